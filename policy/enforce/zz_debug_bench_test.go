package enforce

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/weirnet/weir/policy/dataplane"
)

type tapRunner struct {
	dataplane.Runner
	b *testing.B
}

func (t tapRunner) Restore(ctx context.Context, f dataplane.Family, in []byte) error {
	s := time.Now()
	err := t.Runner.Restore(ctx, f, in)
	t.b.Logf("restore %s %v:\n%s", f, time.Since(s), in)
	return err
}
func (t tapRunner) IPSetRestore(ctx context.Context, in []byte) error {
	s := time.Now()
	err := t.Runner.IPSetRestore(ctx, in)
	t.b.Logf("ipset %v:\n%s", time.Since(s), in)
	return err
}

func BenchmarkZZDebugBatches(b *testing.B) {
	h := newBenchHost(b)
	n, _ := strconv.Atoi(os.Getenv("N"))
	e := h.populate(b, n)
	r, _ := dataplane.NewExecRunner(dataplane.NFT)
	e.Writer = dataplane.New(dataplane.Config{Runner: tapRunner{r, b}, Backend: dataplane.NFT,
		LockPath: filepath.Join(h.stateDir, "dataplane.lock"), CacheDir: filepath.Join(h.stateDir, "policy")})
	ep := h.newEndpoint(n)
	for i := 0; i < b.N; i++ {
		if _, err := e.Attach(context.Background(), ep); err != nil {
			b.Fatal(err)
		}
		b.Log(fmt.Sprint("---- detach"))
		if _, err := e.Detach(context.Background(), ep.Network, ep.ID, ep.IfName); err != nil {
			b.Fatal(err)
		}
	}
}
