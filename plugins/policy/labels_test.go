package policy

import (
	"reflect"
	"testing"
)

func TestParseLabels(t *testing.T) {
	cases := []struct {
		name, args string
		want       map[string]string
		wantErr    string
	}{
		{"none", ``, map[string]string{}, ""},
		{"mesos", `{"org.apache.mesos":{"network_info":{"name":"n","labels":{"labels":[{"key":"app","value":"db"},{"key":"env","value":"prod"}]}}}}`,
			map[string]string{"app": "db", "env": "prod"}, ""},
		{"cni", `{"cni":{"labels":{"app":"web"}}}`, map[string]string{"app": "web"}, ""},
		{"both, mesos wins", `{"cni":{"labels":{"app":"web","tier":"1"}},"org.apache.mesos":{"network_info":{"labels":{"labels":[{"key":"app","value":"db"}]}}}}`,
			map[string]string{"app": "db", "tier": "1"}, ""},
		{"empty key", `{"org.apache.mesos":{"network_info":{"labels":{"labels":[{"key":"","value":"x"}]}}}}`, nil,
			"args.org.apache.mesos.network_info.labels: a label has an empty key"},
		{"bad json", `{"cni":{"labels":["x"]}}`, nil, "decoding labels in args: json: cannot unmarshal array into Go struct field .cni.labels of type map[string]string"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseLabels([]byte(c.args))
			if c.wantErr != "" {
				if err == nil || err.Error() != c.wantErr {
					t.Fatalf("error = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %v, %v; want %v", got, err, c.want)
			}
		})
	}
}
