# METADATA
# title: Packet socket opened by unexpected program (Rego)
# description: >-
#   Rego twin of the Falco rule of the same name. An AF_PACKET socket was
#   created by a program that is neither a DHCP client, a network daemon
#   nor a packet capture tool. Such sockets see and inject raw frames, the
#   basis of sniffing and ARP spoofing.
# custom:
#   priority: NOTICE
#   tags: [host, container, network, mitre_discovery, mitre_credential_access, T1040]
#   output: >-
#     Packet socket opened | domain=%evt.arg.domain type=%evt.arg.type
#     protocol=%evt.arg.proto result=%evt.res process=%proc.name
#     exepath=%proc.exepath cmdline=%proc.cmdline parent=%proc.pname user=%user.name
#     uid=%user.uid pid=%proc.pid ppid=%proc.ppid container_id=%container.id container_name=%container.name
package peregrine.rules.packet_socket

packet_socket_users := {
	"dhclient", "dhcpcd", "dhcpd", "udhcpc", "NetworkManager", "systemd-networkd",
	"tcpdump", "tshark", "dumpcap", "wireshark", "lldpd", "keepalived", "arping",
	"wpa_supplicant", "hostapd", "suricata", "snort", "zeek", "packetbeat", "arpwatch",
}

expected_user if input.proc.name in packet_socket_users

alert if {
	input.evt.type == "socket"
	input.evt.arg.domain == "AF_PACKET"
	not expected_user
}
