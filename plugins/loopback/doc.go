// Package loopback is weir's loopback CNI plugin (type "loopback"): it
// brings the "lo" interface of a container's network namespace up, so that
// 127.0.0.1 and ::1 work inside the container, and down again on DEL.
//
// It needs no configuration beyond its type: the seed's {"type":
// "loopback"}, with neither name nor cniVersion, is a complete
// configuration. CNI_IFNAME is ignored; the interface is always "lo". In a
// chain it passes the previous plugin's result through unchanged.
package loopback
