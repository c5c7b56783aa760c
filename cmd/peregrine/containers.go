package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/peregrine-sec/peregrine/container"
	"github.com/spf13/viper"
)

// containerResolver makes the container metadata resolver of run's
// --container-socket (the configuration key container-socket): the
// sockets given, or the usual ones that exist; nil for "none". Each
// socket that does not answer is one warning on w. It returns an error
// for a socket it cannot parse.
func containerResolver(v *viper.Viper, w io.Writer) (*container.Resolver, error) {
	var sockets []container.Socket
	for _, s := range v.GetStringSlice("container-socket") {
		if s == "none" {
			return nil, nil
		}
		sock, err := container.ParseSocket(s)
		if err != nil {
			return nil, err
		}
		sockets = append(sockets, sock)
	}
	r := container.NewResolver(container.Options{Sockets: sockets, Warn: func(msg string) {
		fmt.Fprintln(w, "peregrine: warning:", msg)
	}})
	var names []string
	for _, e := range r.Engines() {
		names = append(names, e.Kind()+" at "+e.Socket())
	}
	if len(names) == 0 {
		fmt.Fprintln(w, "peregrine: no container runtime socket found at the usual paths: container.name, image and k8s.* fields stay empty (--container-socket KIND:PATH names one)")
	} else {
		fmt.Fprintf(w, "peregrine: container metadata from %s\n", strings.Join(names, ", "))
	}
	return r, nil
}
