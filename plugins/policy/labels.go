package policy

import (
	"encoding/json"
	"fmt"
)

// labelArgs is the part of a network configuration's "args" that carries a
// container's labels, in both forms weir reads: Mesos's
// args["org.apache.mesos"].network_info.labels.labels[{key,value}] and the
// plain args.cni.labels map.
type labelArgs struct {
	Mesos *struct {
		NetworkInfo struct {
			Labels struct {
				Labels []struct {
					Key   string `json:"key"`
					Value string `json:"value"`
				} `json:"labels"`
			} `json:"labels"`
		} `json:"network_info"`
	} `json:"org.apache.mesos"`
	CNI *struct {
		Labels map[string]string `json:"labels"`
	} `json:"cni"`
}

// parseLabels returns the container's labels from a configuration's raw
// "args". Where both forms name a key, the Mesos form wins (it is what the
// containerizer sent).
func parseLabels(raw json.RawMessage) (map[string]string, error) {
	labels := map[string]string{}
	if len(raw) == 0 {
		return labels, nil
	}
	var a labelArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("decoding labels in args: %w", err)
	}
	if a.CNI != nil {
		for k, v := range a.CNI.Labels {
			labels[k] = v
		}
	}
	if a.Mesos != nil {
		for _, l := range a.Mesos.NetworkInfo.Labels.Labels {
			if l.Key == "" {
				return nil, fmt.Errorf("args.org.apache.mesos.network_info.labels: a label has an empty key")
			}
			labels[l.Key] = l.Value
		}
	}
	return labels, nil
}
