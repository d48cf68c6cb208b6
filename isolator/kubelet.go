package isolator

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/weirnet/weir/chain"
)

// The kubelet's NetworkPlugin shape, from the seed document, as an adapter
// over the isolator: a pod is a container attached to one default network.

// EventPodCIDRChange is the event whose "pod-cidr" detail sets the subnet
// new pods get on the default network.
const (
	EventPodCIDRChange = "NET_PLUGIN_EVENT_POD_CIDR_CHANGE"
	PodCIDRDetail      = "pod-cidr"
)

// KubeletHost is what the kubelet gives a network plugin.
type KubeletHost interface {
	// GetNetNS returns the network namespace path of a pod's infra container.
	GetNetNS(containerID string) (string, error)
}

// PodNetworkStatus is a pod's address.
type PodNetworkStatus struct {
	IP net.IP `json:"ip"`
}

// KubeletPlugin adapts the isolator to the kubelet's NetworkPlugin.
type KubeletPlugin struct {
	iso            *Isolator
	defaultNetwork string
	timeout        time.Duration

	mu      sync.Mutex
	host    KubeletHost
	podCIDR *net.IPNet
}

// NewKubeletPlugin returns the adapter; pods join defaultNetwork, whose
// plugins should declare the ipRanges capability for pod-CIDR events to
// take effect.
func NewKubeletPlugin(iso *Isolator, defaultNetwork string) *KubeletPlugin {
	return &KubeletPlugin{iso: iso, defaultNetwork: defaultNetwork, timeout: 2 * time.Minute}
}

// Init is called once before anything else. hairpinMode and
// nonMasqueradeCIDR belong to the network's own configuration in weir
// (bridge's hairpinMode, ipMasq): they are accepted and ignored.
func (k *KubeletPlugin) Init(host KubeletHost, hairpinMode, nonMasqueradeCIDR string) error {
	if host == nil {
		return fmt.Errorf("kubelet plugin: init without a host")
	}
	set, err := chain.LoadDir(k.iso.ConfDir, k.iso.Runner.Path)
	if err != nil {
		return fmt.Errorf("kubelet plugin: %w", err)
	}
	if _, err := set.Get(k.defaultNetwork); err != nil {
		return fmt.Errorf("kubelet plugin: default network: %w", err)
	}
	k.mu.Lock()
	k.host = host
	k.mu.Unlock()
	return nil
}

// Event handles the kubelet's events; a pod-CIDR change sets the subnet
// pods set up from now on get.
func (k *KubeletPlugin) Event(name string, details map[string]any) {
	if name != EventPodCIDRChange {
		return
	}
	s, _ := details[PodCIDRDetail].(string)
	_, cidr, err := net.ParseCIDR(s)
	if err != nil {
		k.iso.log().Warn("ignoring a pod-CIDR event without a valid pod-cidr", "detail", details[PodCIDRDetail])
		return
	}
	k.mu.Lock()
	k.podCIDR = cidr
	k.mu.Unlock()
	k.iso.log().Info("pod CIDR set", "cidr", cidr.String())
}

// Name is the plugin's name.
func (k *KubeletPlugin) Name() string { return "weir" }

// Capabilities is the set of NET_PLUGIN_CAPABILITY_* the plugin has: none
// (traffic shaping is not weir's).
func (k *KubeletPlugin) Capabilities() map[int]bool { return map[int]bool{} }

// SetUpPod attaches the pod's infra container to the default network.
func (k *KubeletPlugin) SetUpPod(namespace, name, podInfraContainerID string) error {
	k.mu.Lock()
	host, cidr := k.host, k.podCIDR
	k.mu.Unlock()
	if host == nil {
		return fmt.Errorf("kubelet plugin: SetUpPod before Init")
	}
	nsPath, err := host.GetNetNS(podInfraContainerID)
	if err != nil {
		return fmt.Errorf("setting up pod %s/%s: finding its netns: %w", namespace, name, err)
	}
	cfg := &ContainerConfig{ContainerInfo: &ContainerInfo{Hostname: name, NetworkInfos: []NetworkInfo{{
		Name:   k.defaultNetwork,
		Labels: &Labels{Labels: []Label{{Key: "k8s.namespace", Value: namespace}, {Key: "k8s.pod", Value: name}}},
	}}}}
	if _, err := k.iso.Prepare(podInfraContainerID, cfg); err != nil {
		return fmt.Errorf("setting up pod %s/%s: %w", namespace, name, err)
	}
	var caps map[string]any
	if cidr != nil {
		caps = map[string]any{"ipRanges": [][]map[string]string{{{"subnet": cidr.String()}}}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
	defer cancel()
	if _, err := k.iso.isolate(ctx, podInfraContainerID, 0, nsPath, caps); err != nil {
		_ = k.iso.Cleanup(context.WithoutCancel(ctx), podInfraContainerID)
		return fmt.Errorf("setting up pod %s/%s: %w", namespace, name, err)
	}
	return nil
}

// TearDownPod detaches the pod; a pod already gone is success.
func (k *KubeletPlugin) TearDownPod(namespace, name, podInfraContainerID string) error {
	ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
	defer cancel()
	if err := k.iso.Cleanup(ctx, podInfraContainerID); err != nil {
		return fmt.Errorf("tearing down pod %s/%s: %w", namespace, name, err)
	}
	return nil
}

// GetPodNetworkStatus returns the pod's address on the default network.
func (k *KubeletPlugin) GetPodNetworkStatus(namespace, name, podInfraContainerID string) (*PodNetworkStatus, error) {
	_, res, err := k.iso.Runner.Result(podInfraContainerID, k.defaultNetwork)
	if err != nil {
		return nil, fmt.Errorf("status of pod %s/%s: %w", namespace, name, err)
	}
	cur, err := current.NewResultFromResult(res)
	if err != nil || len(cur.IPs) == 0 {
		return nil, fmt.Errorf("status of pod %s/%s: no address recorded", namespace, name)
	}
	return &PodNetworkStatus{IP: cur.IPs[0].Address.IP}, nil
}

// Status returns an error while the default network cannot take pods.
func (k *KubeletPlugin) Status() error {
	set, err := chain.LoadDir(k.iso.ConfDir, k.iso.Runner.Path)
	if err != nil {
		return err
	}
	def, err := set.Get(k.defaultNetwork)
	if err != nil {
		return err
	}
	list, err := def.ConfList()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
	defer cancel()
	return k.iso.Runner.Status(ctx, list)
}
