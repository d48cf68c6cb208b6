// Package isolator is what a containerizer talks to: the lifecycle of
// Mesos's network/cni isolator (Prepare, Isolate, Status, Usage, Cleanup,
// Recover) over weir's chain runner, with the container's files (hosts,
// hostname, resolv.conf), its network namespace pinned by a bind mount, and
// its state kept in the records so that status, cleanup and recovery work
// from disk — also after a crash at any point or a reboot. A kubelet-shaped
// adapter (the seed's NetworkPlugin) sits on top.
//
// Layout of a container's directory, <state>/containers/<id>/:
//
//	config.json                      the prepared ContainerConfig (Mesos JSON)
//	ns                               the network namespace, bind-mounted
//	hosts, hostname, resolv.conf     the container's files
//	<network>/network.conf           the chain runner's records (see package chain)
//	<network>/<ifname>/network.info
package isolator
