package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo runs `make demo`'s program: both networks, four containers, the
// measured matrix equal to the policy files before and after an edit, the
// published port, and a teardown that leaves nothing.
func TestDemo(t *testing.T) {
	bin := binDir(t)
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "weir-demo"))
	cmd.Env = append(os.Environ(), "WEIR_REPO="+repo)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the demo failed: %v\n%s", err, out)
	}
	for _, want := range []string{
		"measured matrix equals the policy files: true (12 of 12)\n",
		"measured matrix equals the policy files: true (12 of 12); * changed by the edit",
		`"hello from web"`,
		"— nothing left",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, out)
		}
	}
}
