package chain

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
)

// PortMapping is one published port, in the CNI portMappings capability's
// shape.
type PortMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// ParsePortMapping parses [HOSTIP:]HOST:CONTAINER[/PROTO] (PROTO tcp or udp,
// default tcp), as --publish takes it.
func ParsePortMapping(s string) (PortMapping, error) {
	spec, proto, hasProto := strings.Cut(s, "/")
	pm := PortMapping{Protocol: "tcp"}
	if hasProto {
		pm.Protocol = strings.ToLower(proto)
		if pm.Protocol != "tcp" && pm.Protocol != "udp" {
			return pm, fmt.Errorf("port mapping %q: protocol %q is not tcp or udp", s, proto)
		}
	}
	i := strings.LastIndex(spec, ":")
	if i < 0 {
		return pm, fmt.Errorf("port mapping %q: want HOST:CONTAINER[/tcp|udp]", s)
	}
	hostPart, ctrPart := spec[:i], spec[i+1:]
	if j := strings.LastIndex(hostPart, ":"); j >= 0 {
		ip := strings.Trim(hostPart[:j], "[]")
		if net.ParseIP(ip) == nil {
			return pm, fmt.Errorf("port mapping %q: host IP %q is not an address", s, ip)
		}
		pm.HostIP, hostPart = ip, hostPart[j+1:]
	}
	var err error
	if pm.HostPort, err = port(hostPart); err != nil {
		return pm, fmt.Errorf("port mapping %q: host port: %w", s, err)
	}
	if pm.ContainerPort, err = port(ctrPart); err != nil {
		return pm, fmt.Errorf("port mapping %q: container port: %w", s, err)
	}
	return pm, nil
}

func port(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port (1-65535)", s)
	}
	return n, nil
}

// ParseLabel parses k=v.
func ParseLabel(s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return "", "", fmt.Errorf("label %q: want key=value", s)
	}
	return k, v, nil
}

// ParseCNIArgs parses CNI_ARGS ("K=V;K2=V2").
func ParseCNIArgs(s string) ([][2]string, error) {
	if s == "" {
		return nil, nil
	}
	var out [][2]string
	for _, kv := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("CNI args %q: %q is not KEY=VALUE", s, kv)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// LabelArgs returns the "args" a network's plugins get for a container's
// labels, in both forms weir's policy plugin reads: Mesos's
// args["org.apache.mesos"].network_info (name and labels.labels[{key,value}])
// and the plain args.cni.labels map.
func LabelArgs(network string, labels map[string]string) map[string]any {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	list := make([]map[string]string, 0, len(keys))
	plain := make(map[string]string, len(keys))
	for _, k := range keys {
		list = append(list, map[string]string{"key": k, "value": labels[k]})
		plain[k] = labels[k]
	}
	info := map[string]any{"name": network}
	if len(list) > 0 {
		info["labels"] = map[string]any{"labels": list}
	}
	args := map[string]any{"org.apache.mesos": map[string]any{"network_info": info}}
	if len(plain) > 0 {
		args["cni"] = map[string]any{"labels": plain}
	}
	return args
}

// PortMappingArgs returns the capability arguments for published ports.
func PortMappingArgs(pms []PortMapping) map[string]any {
	if len(pms) == 0 {
		return nil
	}
	return map[string]any{"portMappings": pms}
}
