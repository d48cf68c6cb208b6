package chain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as a scriptable fake CNI plugin: linked under a
// name starting with "fake-", it records each invocation (command, CNI
// variables, stdin) to $FAKE_DIR/log.jsonl and behaves as
// $FAKE_DIR/<name>.json says for the command.

// fakeScript is one fake plugin's behaviour per command ("ADD", "DEL", ...).
type fakeScript map[string]fakeAction

type fakeAction struct {
	Result    json.RawMessage `json:"result,omitempty"`    // printed on success (ADD); default echoes prevResult or a fresh result
	Code      uint            `json:"code,omitempty"`      // fail with this CNI error code
	Msg       string          `json:"msg,omitempty"`       // the error message
	Hang      bool            `json:"hang,omitempty"`      // never answer
	TryAgain  int             `json:"tryAgain,omitempty"`  // answer code 11 this many times first
	Garbage   bool            `json:"garbage,omitempty"`   // print something that is not JSON
	CrashExit int             `json:"crashExit,omitempty"` // exit with this code and no output
	SleepMS   int             `json:"sleepMS,omitempty"`   // take this long, then log "<plugin> <COMMAND> done"
}

type fakeCall struct {
	Plugin  string            `json:"plugin"`
	Command string            `json:"command"`
	Env     map[string]string `json:"env"`
	Stdin   json.RawMessage   `json:"stdin"`
}

func TestMain(m *testing.M) {
	if name := filepath.Base(os.Args[0]); strings.HasPrefix(name, "fake-") {
		os.Exit(fakePlugin(name))
	}
	os.Exit(m.Run())
}

func fakePlugin(name string) int {
	dir := os.Getenv("FAKE_DIR")
	cmd := os.Getenv("CNI_COMMAND")
	stdin, _ := io.ReadAll(os.Stdin)
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "CNI_") {
			env[k] = v
		}
	}
	line, _ := json.Marshal(fakeCall{Plugin: name, Command: cmd, Env: env, Stdin: stdin})
	f, err := os.OpenFile(filepath.Join(dir, "log.jsonl"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		_, _ = f.Write(append(line, '\n'))
		f.Close()
	}
	var script fakeScript
	if data, err := os.ReadFile(filepath.Join(dir, name+".json")); err == nil {
		_ = json.Unmarshal(data, &script)
	}
	act := script[cmd]
	if act.TryAgain > 0 {
		counter := filepath.Join(dir, name+"."+cmd+".tries")
		n := 0
		if b, err := os.ReadFile(counter); err == nil {
			fmt.Sscanf(string(b), "%d", &n)
		}
		if n < act.TryAgain {
			_ = os.WriteFile(counter, []byte(fmt.Sprint(n+1)), 0o644)
			fmt.Printf(`{"cniVersion":"1.0.0","code":11,"msg":"busy, try again"}`)
			return 1
		}
	}
	if act.SleepMS > 0 {
		time.Sleep(time.Duration(act.SleepMS) * time.Millisecond)
		done, _ := json.Marshal(fakeCall{Plugin: name, Command: cmd + " done", Env: env})
		if f, err := os.OpenFile(filepath.Join(dir, "log.jsonl"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			_, _ = f.Write(append(done, '\n'))
			f.Close()
		}
	}
	switch {
	case act.Hang:
		time.Sleep(time.Hour)
	case act.CrashExit != 0:
		return act.CrashExit
	case act.Garbage:
		fmt.Print("this is not json")
		return 1
	case act.Code != 0:
		fmt.Printf(`{"cniVersion":"1.0.0","code":%d,"msg":%q}`, act.Code, act.Msg)
		return 1
	}
	if cmd != "ADD" {
		return 0
	}
	if act.Result != nil {
		os.Stdout.Write(act.Result)
		return 0
	}
	var conf struct {
		CNIVersion string          `json:"cniVersion"`
		PrevResult json.RawMessage `json:"prevResult"`
	}
	_ = json.Unmarshal(stdin, &conf)
	if conf.PrevResult != nil {
		os.Stdout.Write(conf.PrevResult)
		return 0
	}
	fmt.Printf(`{"cniVersion":%q,"interfaces":[{"name":%q}],"ips":[{"address":"10.9.0.2/24","interface":0}]}`, conf.CNIVersion, env["CNI_IFNAME"])
	return 0
}

// fakeEnv is a plugin directory of fake plugins and the directory they log to.
type fakeEnv struct {
	t   *testing.T
	bin string
	dir string
}

func newFakeEnv(t *testing.T, names ...string) *fakeEnv {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	fe := &fakeEnv{t: t, bin: t.TempDir(), dir: t.TempDir()}
	for _, n := range names {
		if err := os.Symlink(self, filepath.Join(fe.bin, n)); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("FAKE_DIR", fe.dir)
	return fe
}

func (fe *fakeEnv) script(name string, s fakeScript) {
	data, _ := json.Marshal(s)
	if err := os.WriteFile(filepath.Join(fe.dir, name+".json"), data, 0o644); err != nil {
		fe.t.Fatal(err)
	}
}

// calls returns the logged invocations, as "plugin COMMAND" strings and in full.
func (fe *fakeEnv) calls() ([]string, []fakeCall) {
	data, err := os.ReadFile(filepath.Join(fe.dir, "log.jsonl"))
	if err != nil {
		return nil, nil
	}
	// A plugin may be writing its line right now (tests poll while ADDs
	// run): only complete lines count.
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[:i]
	} else {
		return nil, nil
	}
	var short []string
	var full []fakeCall
	for _, line := range strings.Split(string(data), "\n") {
		var c fakeCall
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			fe.t.Fatalf("bad log line %q: %v", line, err)
		}
		short = append(short, c.Plugin+" "+c.Command)
		full = append(full, c)
	}
	return short, full
}

func (fe *fakeEnv) reset() { _ = os.Remove(filepath.Join(fe.dir, "log.jsonl")) }
