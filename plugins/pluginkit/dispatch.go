package pluginkit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/utils"
	"github.com/containernetworking/cni/pkg/version"
)

// Versions are the CNI spec versions every weir plugin accepts.
var Versions = version.All

// Invocation is one CNI call, parsed from the environment and stdin.
type Invocation struct {
	Command string
	Args    skel.CmdArgs
}

// requirement says which variables a command needs, as the CNI spec lists them.
var requirement = map[string][]string{
	"ADD":    {"CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"},
	"CHECK":  {"CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"},
	"DEL":    {"CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"},
	"GC":     {"CNI_PATH"},
	"STATUS": {"CNI_PATH"},
}

// ParseInvocation reads the CNI variables from environ (KEY=VALUE entries;
// later entries win, as with exec) and checks that the command has what it
// needs.
func ParseInvocation(environ []string, stdin []byte) (*Invocation, *types.Error) {
	env := make(map[string]string, 8)
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "CNI_") {
			continue
		}
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	inv := &Invocation{
		Command: env["CNI_COMMAND"],
		Args: skel.CmdArgs{
			ContainerID:   env["CNI_CONTAINERID"],
			Netns:         env["CNI_NETNS"],
			IfName:        env["CNI_IFNAME"],
			Args:          env["CNI_ARGS"],
			Path:          env["CNI_PATH"],
			NetnsOverride: env["CNI_NETNS_OVERRIDE"],
			StdinData:     stdin,
		},
	}
	if inv.Command == "" {
		return nil, types.NewError(types.ErrInvalidEnvironmentVariables, "required env variables [CNI_COMMAND] missing", "")
	}
	if inv.Command == "VERSION" {
		return inv, nil
	}
	req, known := requirement[inv.Command]
	if !known {
		return nil, types.NewError(types.ErrInvalidEnvironmentVariables, fmt.Sprintf("unknown CNI_COMMAND: %v", inv.Command), "")
	}
	var missing []string
	for _, k := range req {
		if env[k] == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, types.NewError(types.ErrInvalidEnvironmentVariables, fmt.Sprintf("required env variables [%s] missing", strings.Join(missing, ",")), "")
	}
	if inv.Args.ContainerID != "" {
		if err := utils.ValidateContainerID(inv.Args.ContainerID); err != nil {
			return nil, err
		}
	}
	if inv.Args.IfName != "" {
		if err := utils.ValidateInterfaceName(inv.Args.IfName); err != nil {
			return nil, err
		}
	}
	return inv, nil
}

// minVersion is the first spec version that has each command.
var minVersion = map[string]string{"CHECK": "0.4.0", "GC": "1.1.0", "STATUS": "1.1.0"}

// checkConfig decodes the configuration's version and name. A missing name is
// allowed here (the seed's loopback config has none); plugins that need one
// say so. A present name must be valid.
func checkConfig(command string, stdin []byte) (string, *types.Error) {
	var conf struct {
		CNIVersion string `json:"cniVersion"`
		Name       string `json:"name"`
	}
	if err := json.Unmarshal(stdin, &conf); err != nil {
		return "", types.NewError(types.ErrDecodingFailure, fmt.Sprintf("decoding network configuration: %v", err), "")
	}
	if conf.Name != "" {
		if err := utils.ValidateNetworkName(conf.Name); err != nil {
			return "", err
		}
	}
	ver := conf.CNIVersion
	if ver == "" {
		ver = "0.1.0"
	}
	supported := false
	for _, v := range Versions.SupportedVersions() {
		if v == ver {
			supported = true
			break
		}
	}
	if !supported {
		return "", types.NewError(types.ErrIncompatibleCNIVersion, "incompatible CNI versions",
			fmt.Sprintf("config is %q, plugin supports %q", ver, Versions.SupportedVersions()))
	}
	if min, ok := minVersion[command]; ok {
		if ge, _ := version.GreaterThanOrEqualTo(ver, min); !ge {
			return "", types.NewError(types.ErrIncompatibleCNIVersion, fmt.Sprintf("config version %s does not allow %s", ver, command), "")
		}
	}
	return ver, nil
}

// Dispatch runs one CNI invocation against p and returns what the plugin
// prints on stdout: the result (converted to the configuration's cniVersion)
// for ADD, the version info for VERSION, nothing for the other commands.
func Dispatch(ctx context.Context, p Plugin, env *Env, environ []string, stdin []byte) ([]byte, *types.Error) {
	inv, terr := ParseInvocation(environ, stdin)
	if terr != nil {
		return nil, terr
	}
	return Call(ctx, p, env, inv)
}

// Call runs an already parsed invocation; see Dispatch.
func Call(ctx context.Context, p Plugin, env *Env, inv *Invocation) ([]byte, *types.Error) {
	if inv.Command == "VERSION" {
		var buf bytes.Buffer
		if err := Versions.Encode(&buf); err != nil {
			return nil, types.NewError(types.ErrIOFailure, err.Error(), "")
		}
		return buf.Bytes(), nil
	}
	ver, terr := checkConfig(inv.Command, inv.Args.StdinData)
	if terr != nil {
		return nil, terr
	}
	args := &inv.Args
	var err error
	switch inv.Command {
	case "ADD":
		var res types.Result
		res, err = p.Add(ctx, env, args)
		if err == nil {
			return encodeResult(res, ver)
		}
	case "DEL":
		err = p.Del(ctx, env, args)
	case "CHECK":
		err = p.Check(ctx, env, args)
	case "GC":
		err = p.GC(ctx, env, args)
	case "STATUS":
		err = p.Status(ctx, env, args)
	}
	return nil, AsCNIError(err)
}

func encodeResult(res types.Result, ver string) ([]byte, *types.Error) {
	if res == nil {
		return nil, types.NewError(types.ErrInternal, "plugin returned no result", "")
	}
	conv, err := res.GetAsVersion(ver)
	if err != nil {
		return nil, types.NewError(types.ErrIncompatibleCNIVersion, fmt.Sprintf("converting result to version %s: %v", ver, err), "")
	}
	var buf bytes.Buffer
	if err := conv.PrintTo(&buf); err != nil {
		return nil, types.NewError(types.ErrIOFailure, fmt.Sprintf("encoding result: %v", err), "")
	}
	return buf.Bytes(), nil
}
