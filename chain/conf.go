package chain

import (
	"encoding/json"
	"fmt"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

// pluginConf builds the configuration plugin i of list receives, as libcni
// does: the list's name and cniVersion, the previous plugin's result, the
// runtimeConfig for the capabilities the plugin declares, plus weir's "args"
// (labels) merged into the plugin's own "args" and any extra keys (GC's
// valid attachments).
func pluginConf(list *libcni.NetworkConfigList, i int, prev types.Result, capArgs, confArgs map[string]any, extra map[string]any) ([]byte, error) {
	p := list.Plugins[i]
	conf := map[string]any{}
	if err := json.Unmarshal(p.Bytes, &conf); err != nil {
		return nil, fmt.Errorf("decoding plugin %d (%s) of %s: %w", i, p.Network.Type, list.Name, err)
	}
	conf["name"] = list.Name
	conf["cniVersion"] = list.CNIVersion
	if prev != nil {
		conf["prevResult"] = prev
	}
	rc := map[string]any{}
	for capability, supported := range p.Network.Capabilities {
		if v, ok := capArgs[capability]; ok && supported {
			rc[capability] = v
		}
	}
	if len(rc) > 0 {
		conf["runtimeConfig"] = rc
	}
	if len(confArgs) > 0 {
		args, _ := conf["args"].(map[string]any)
		if args == nil {
			args = map[string]any{}
		}
		for k, v := range confArgs {
			args[k] = v
		}
		conf["args"] = args
	}
	for k, v := range extra {
		conf[k] = v
	}
	out, err := json.Marshal(conf)
	if err != nil {
		return nil, fmt.Errorf("encoding plugin %d (%s) of %s: %w", i, p.Network.Type, list.Name, err)
	}
	return out, nil
}
