// Package deploy holds Peregrine's deployment files (the systemd unit in
// systemd/, the Kubernetes manifests in kubernetes/ with kustomization.yaml,
// the configuration and local rules in config/) and their tests. It is a
// Go module of its own so that the Kubernetes and kustomize libraries the
// tests validate the manifests with stay out of the agent's go.mod.
package deploy
