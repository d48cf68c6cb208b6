package isolator

// The Mesos protobuf JSON forms the isolator takes and gives, so that an
// agent module can pass them straight through.

// Label is a Mesos Label.
type Label struct {
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
}

// Labels is a Mesos Labels message.
type Labels struct {
	Labels []Label `json:"labels,omitempty"`
}

// PortMapping is a Mesos NetworkInfo.PortMapping.
type PortMapping struct {
	HostPort      int    `json:"host_port"`
	ContainerPort int    `json:"container_port"`
	Protocol      string `json:"protocol,omitempty"` // tcp (default) or udp
}

// IPAddress is a Mesos NetworkInfo.IPAddress.
type IPAddress struct {
	Protocol  string `json:"protocol,omitempty"` // IPv4 or IPv6
	IPAddress string `json:"ip_address,omitempty"`
}

// NetworkInfo is a Mesos NetworkInfo: a network a container joins (in a
// config) or is on (in a status).
type NetworkInfo struct {
	Name         string        `json:"name"`
	Labels       *Labels       `json:"labels,omitempty"`
	PortMappings []PortMapping `json:"port_mappings,omitempty"`
	IPAddresses  []IPAddress   `json:"ip_addresses,omitempty"`
}

// ContainerInfo is the part of a Mesos ContainerInfo the isolator reads.
type ContainerInfo struct {
	Type         string        `json:"type,omitempty"`
	Hostname     string        `json:"hostname,omitempty"`
	NetworkInfos []NetworkInfo `json:"network_infos,omitempty"`
}

// ContainerConfig is the part of a Mesos ContainerConfig the isolator reads.
type ContainerConfig struct {
	ContainerInfo *ContainerInfo `json:"container_info,omitempty"`
}

// ContainerStatus is the Mesos ContainerStatus the isolator reports, with
// weir's own fields beside the Mesos ones.
type ContainerStatus struct {
	ContainerID  string        `json:"container_id"`
	NetworkInfos []NetworkInfo `json:"network_infos"`
	// Interfaces maps each network to the interface it got (eth0, eth1, ...).
	Interfaces map[string]string `json:"interfaces,omitempty"`
	// State is "isolated" when every network is attached, "preparing"
	// before Isolate, "partial" when a crash left an attach half done.
	State string `json:"state"`
	NetNS string `json:"netns,omitempty"`
}

// PrepareInfo tells the containerizer what the container needs from it.
type PrepareInfo struct {
	// Namespaces the container must be created with (clone flags by name):
	// a container on any network needs its own network, mount and UTS
	// namespaces.
	Namespaces []string `json:"namespaces"`
}

// InterfaceUsage is one interface's traffic counters.
type InterfaceUsage struct {
	Network   string `json:"network"`
	Interface string `json:"interface"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxBytes   uint64 `json:"tx_bytes"`
	RxPackets uint64 `json:"rx_packets"`
	TxPackets uint64 `json:"tx_packets"`
	RxDropped uint64 `json:"rx_dropped"`
	TxDropped uint64 `json:"tx_dropped"`
}

func (c *ContainerConfig) networks() []NetworkInfo {
	if c == nil || c.ContainerInfo == nil {
		return nil
	}
	return c.ContainerInfo.NetworkInfos
}
