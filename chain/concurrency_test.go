package chain

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

// order returns the logged calls of one plugin with their container ids.
func (fe *fakeEnv) order() []string {
	_, full := fe.calls()
	var out []string
	for _, c := range full {
		out = append(out, c.Command+" "+c.Env["CNI_CONTAINERID"])
	}
	return out
}

func TestSameContainerIsSerialisedOthersRunConcurrently(t *testing.T) {
	fe := newFakeEnv(t, "fake-slow")
	r := newRunner(fe)
	fe.script("fake-slow", fakeScript{"ADD": {SleepMS: 300}})
	run := func(lists []string, id string) {
		var wg sync.WaitGroup
		for _, n := range lists {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := r.Add(context.Background(), fakeList(t, n, "fake-slow"), att(id)); err != nil {
					t.Errorf("Add %s: %v", n, err)
				}
			}()
		}
		wg.Wait()
	}
	// Two networks for one container: the second ADD waits for the first.
	run([]string{"n1", "n2"}, "same")
	got := strings.Join(fe.order(), ",")
	if got != "ADD same,ADD done same,ADD same,ADD done same" {
		t.Errorf("one container's operations overlapped: %s", got)
	}
	fe.reset()
	// Two containers: both ADDs start before either finishes.
	var wg sync.WaitGroup
	for _, id := range []string{"c1", "c2"} {
		wg.Add(1)
		go func() { defer wg.Done(); run([]string{"n1"}, id) }()
	}
	wg.Wait()
	o := fe.order()
	if len(o) != 4 || strings.HasSuffix(o[1], "done c1") || strings.HasSuffix(o[1], "done c2") {
		t.Errorf("different containers did not run concurrently: %v", o)
	}
}

func TestStatusAsksEveryPlugin(t *testing.T) {
	fe := newFakeEnv(t, "fake-a", "fake-b")
	r := newRunner(fe)
	list := fakeList(t, "net1", "fake-a", "fake-b")
	if err := r.Status(context.Background(), list); err != nil {
		t.Fatalf("Status: %v", err)
	}
	if short, _ := fe.calls(); strings.Join(short, ",") != "fake-a STATUS,fake-b STATUS" {
		t.Errorf("calls = %v", short)
	}
	fe.script("fake-b", fakeScript{"STATUS": {Code: types.ErrPluginNotAvailable, Msg: "range exhausted"}})
	err := r.Status(context.Background(), list)
	if err == nil || !strings.Contains(err.Error(), "network net1: plugin fake-b failed (status): range exhausted") {
		t.Errorf("Status error = %v", err)
	}
}
