package flannel

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/weirnet/weir/internal/sandbox"
	"github.com/weirnet/weir/plugins/pluginkit"
)

// fakeDelegate is an in-process delegate plugin that records its calls and
// fails the commands it is told to.
type fakeDelegate struct {
	mu    sync.Mutex
	calls []fakeCall
	fail  map[string]*types.Error
	// onAdd runs at the start of ADD.
	onAdd func()
}

type fakeCall struct {
	Command, ContainerID, IfName, Conf string
}

var _ pluginkit.Plugin = (*fakeDelegate)(nil)

func (f *fakeDelegate) record(cmd string, args *skel.CmdArgs) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fakeCall{cmd, args.ContainerID, args.IfName, string(args.StdinData)})
	if e := f.fail[cmd]; e != nil {
		return e
	}
	return nil
}

func (f *fakeDelegate) setFail(cmd string, e *types.Error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail == nil {
		f.fail = map[string]*types.Error{}
	}
	f.fail[cmd] = e
}

func (f *fakeDelegate) takeCalls() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

func (f *fakeDelegate) Add(_ context.Context, _ *pluginkit.Env, args *skel.CmdArgs) (types.Result, error) {
	if f.onAdd != nil {
		f.onAdd()
	}
	if err := f.record("ADD", args); err != nil {
		return nil, err
	}
	_, ipn, _ := net.ParseCIDR("192.168.22.130/26")
	ipn.IP = net.ParseIP("192.168.22.130").To4()
	return &current.Result{
		CNIVersion: current.ImplementedSpecVersion,
		IPs:        []*current.IPConfig{{Address: *ipn, Gateway: net.ParseIP("192.168.22.129")}},
	}, nil
}

func (f *fakeDelegate) Del(_ context.Context, _ *pluginkit.Env, args *skel.CmdArgs) error {
	return f.record("DEL", args)
}

func (f *fakeDelegate) Check(_ context.Context, _ *pluginkit.Env, args *skel.CmdArgs) error {
	return f.record("CHECK", args)
}

func (f *fakeDelegate) GC(_ context.Context, _ *pluginkit.Env, args *skel.CmdArgs) error {
	return f.record("GC", args)
}

func (f *fakeDelegate) Status(_ context.Context, _ *pluginkit.Env, args *skel.CmdArgs) error {
	return f.record("STATUS", args)
}

// fakeEnv is a flannel network whose delegate is a fakeDelegate, with its
// subnet file and data directory in a temporary directory.
type fakeEnv struct {
	t          *testing.T
	fake       *fakeDelegate
	plugins    *sandbox.Runner
	subnetFile string
	dataDir    string
}

func newFakeEnv(t *testing.T) *fakeEnv {
	fake := &fakeDelegate{}
	tmp := t.TempDir()
	e := &fakeEnv{t: t, fake: fake, plugins: sandbox.NewRunner(t, "flannel", pluginkit.Registry{"flannel": New(), "fakebr": fake}),
		subnetFile: filepath.Join(tmp, "subnet.env"), dataDir: filepath.Join(tmp, "data")}
	e.writeSubnetEnv(seedSubnetEnv)
	return e
}

func (e *fakeEnv) writeSubnetEnv(s string) {
	if err := os.WriteFile(e.subnetFile, []byte(s), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// conf is the network configuration; extra is spliced into the object.
func (e *fakeEnv) conf(ver, extra string) []byte {
	return []byte(`{"cniVersion":"` + ver + `","name":"mynet","type":"flannel","subnetFile":"` + e.subnetFile +
		`","dataDir":"` + e.dataDir + `","delegate":{"type":"fakebr","bridge":"fl0"}` + extra + `}`)
}

func (e *fakeEnv) call(cmd, id string, conf []byte) ([]byte, error) {
	return e.plugins.Run(sandbox.Call{Command: cmd, ContainerID: id, NetNS: "/var/run/netns/" + id, Conf: conf})
}

func (e *fakeEnv) saved(id string) string {
	return filepath.Join(e.dataDir, "mynet", id+"@eth0.json")
}

func (e *fakeEnv) wantCalls(want ...string) []fakeCall {
	e.t.Helper()
	calls := e.fake.takeCalls()
	var got []string
	for _, c := range calls {
		got = append(got, c.Command)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		e.t.Fatalf("delegate calls = %v, want %v", got, want)
	}
	return calls
}

// retryDel checks that id's saved configuration survived the delegate's
// failed DEL, then lets the delegate's DEL succeed: a retried DEL (of a
// ver configuration) must call it and remove the saved configuration.
func (e *fakeEnv) retryDel(id, ver string) {
	e.t.Helper()
	if !exists(e.t, e.saved(id)) {
		e.t.Fatalf("saved configuration of %s removed although the delegate's DEL failed", id)
	}
	e.fake.setFail("DEL", nil)
	if _, err := e.call("DEL", id, e.conf(ver, "")); err != nil {
		e.t.Fatalf("retried DEL of %s: %v", id, err)
	}
	e.wantCalls("DEL")
	if exists(e.t, e.saved(id)) {
		e.t.Fatalf("saved configuration of %s left after the retried DEL", id)
	}
}

func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}
