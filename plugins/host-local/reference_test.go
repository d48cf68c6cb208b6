package hostlocal

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"reflect"
	"testing"
)

// TestMatchesReferencePlugin compares ADD results with the reference
// host-local binary's (in WEIR_REF_DIR) for fresh stores.
func TestMatchesReferencePlugin(t *testing.T) {
	ref, refDir := refHostLocal(t)
	cases := []struct{ name, ipam, cniArgs string }{
		{"seed bridge", `"subnet": "10.22.0.0/16", "routes": [{"dst": "0.0.0.0/0"}]`, ""},
		{"seed macvlan static", `"subnet": "172.17.0.0/16", "routes": [{"dst": "0.0.0.0/0"}]`, "IP=172.17.20.20"},
		{"dual stack", `"ranges": [[{"subnet": "10.1.0.0/24", "rangeStart": "10.1.0.100", "gateway": "10.1.0.254"}], [{"subnet": "fd00:1::/64"}]],
			"routes": [{"dst": "10.99.0.0/16", "gw": "10.1.0.254"}]`, ""},
	}
	for _, ver := range specVersions() {
		for _, tc := range cases {
			t.Run(ver+"/"+tc.name, func(t *testing.T) {
				ours, err := dispatch(t, confJSON(ver, t.TempDir(), tc.ipam), call{command: "ADD", id: "c1", ifname: "eth0", cniArgs: tc.cniArgs})
				if err != nil {
					t.Fatal(err)
				}
				cmd := exec.Command(ref)
				cmd.Env = []string{"CNI_COMMAND=ADD", "CNI_CONTAINERID=c1", "CNI_NETNS=/x", "CNI_IFNAME=eth0", "CNI_PATH=" + refDir, "CNI_ARGS=" + tc.cniArgs}
				cmd.Stdin = bytes.NewReader([]byte(confJSON(ver, t.TempDir(), tc.ipam)))
				theirs, rerr := cmd.Output()
				if rerr != nil {
					t.Fatalf("reference: %v: %s", rerr, theirs)
				}
				var a, b any
				if err := json.Unmarshal(ours, &a); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(theirs, &b); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(a, b) {
					t.Errorf("results differ\nours:      %s\nreference: %s", ours, theirs)
				}
			})
		}
	}
}
