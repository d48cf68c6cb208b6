// Package flannel is weir's flannel CNI plugin: a meta-plugin that gives a
// container an address in the host's flannel subnet.
//
// flanneld leases a subnet of the overlay network to each host and writes it
// to a subnet file (/run/flannel/subnet.env by default):
//
//	FLANNEL_NETWORK=192.168.0.0/16
//	FLANNEL_SUBNET=192.168.22.129/26
//	FLANNEL_MTU=1450
//	FLANNEL_IPMASQ=false
//
// On ADD the plugin turns that file and its own configuration into a
// configuration for a delegate plugin (bridge unless "delegate.type" says
// otherwise) whose IPAM is host-local over the host's subnet, with a route to
// the whole flannel network and the overlay's MTU, and the keys of the
// "delegate" object merged over it. The delegate configuration is saved
// atomically under dataDir before the delegate runs, keyed by network,
// container and interface, so that DEL, CHECK and GC replay exactly what ADD
// did even after flanneld has rewritten its subnet file or stopped.
//
// Layout: config.go loads and validates the plugin's configuration,
// subnetenv.go parses the subnet file, delegate.go builds, merges, saves and
// loads delegate configurations, and add.go, del.go, check.go, gc.go and
// status.go are the CNI commands.
package flannel
