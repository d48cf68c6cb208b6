package hostlocal

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name, conf, args string
		code             uint
		msg              string
	}{
		{"not json", `{"name":`, "", types.ErrDecodingFailure,
			"decoding network configuration: unexpected end of JSON input"},
		{"no name", `{"ipam": {"subnet": "10.0.0.0/24"}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "name": host-local needs the network name, which keys its address store`},
		{"bad name", `{"name": "a/b", "ipam": {"subnet": "10.0.0.0/24"}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "name": invalid characters found in network name`},
		{"no ipam", `{"name": "n"}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam": the ipam section is missing`},
		{"relative dataDir", `{"name": "n", "ipam": {"subnet": "10.0.0.0/24", "dataDir": "run/x"}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam.dataDir": "run/x" is not an absolute path`},
		{"no ranges", `{"name": "n", "ipam": {"type": "host-local"}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam.ranges": no address ranges: set ipam.subnet or ipam.ranges`},
		{"empty ranges list", `{"name": "n", "ipam": {"ranges": []}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam.ranges": no address ranges: set ipam.subnet or ipam.ranges`},
		{"empty range set", `{"name": "n", "ipam": {"ranges": [[{"subnet": "10.0.0.0/24"}], []]}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam.ranges[1]": empty range set`},
		{"bad cidr", `{"name": "n", "ipam": {"ranges": [[{"subnet": "10.0.0.0/33"}]]}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam.ranges[0][0].subnet": "10.0.0.0/33" is not a CIDR: netip.ParsePrefix("10.0.0.0/33"): prefix length out of range`},
		{"legacy bad cidr", `{"name": "n", "ipam": {"subnet": "10.0.0"}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam.subnet": "10.0.0" is not a CIDR: netip.ParsePrefix("10.0.0"): no '/'`},
		{"subnet missing", `{"name": "n", "ipam": {"ranges": [[{"rangeStart": "10.0.0.5"}]]}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam.ranges[0][0].subnet": a subnet is required`},
		{"legacy subnet missing", `{"name": "n", "ipam": {"gateway": "10.0.0.1"}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam.subnet": a subnet is required`},
		{"host bits", `{"name": "n", "ipam": {"subnet": "10.0.0.1/24"}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam.subnet": 10.0.0.1/24 has host bits set; the network is 10.0.0.0/24`},
		{"too small v4", `{"name": "n", "ipam": {"subnet": "10.0.0.0/31"}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam.subnet": 10.0.0.0/31 is too small to allocate from`},
		{"too small v6", `{"name": "n", "ipam": {"ranges": [[{"subnet": "fd00::/127"}]]}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam.ranges[0][0].subnet": fd00::/127 is too small to allocate from`},
		{"rangeStart outside", `{"name": "n", "ipam": {"ranges": [[{"subnet": "10.0.0.0/24", "rangeStart": "10.0.1.5"}]]}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam.ranges[0][0].rangeStart": 10.0.1.5 is not a usable address of subnet 10.0.0.0/24 (10.0.0.1-10.0.0.254)`},
		{"rangeEnd broadcast", `{"name": "n", "ipam": {"subnet": "10.0.0.0/24", "rangeEnd": "10.0.0.255"}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam.rangeEnd": 10.0.0.255 is not a usable address of subnet 10.0.0.0/24 (10.0.0.1-10.0.0.254)`},
		{"rangeStart network address", `{"name": "n", "ipam": {"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.0"}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam.rangeStart": 10.0.0.0 is not a usable address of subnet 10.0.0.0/24 (10.0.0.1-10.0.0.254)`},
		{"rangeStart other family", `{"name": "n", "ipam": {"subnet": "10.0.0.0/24", "rangeStart": "fd00::1"}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam.rangeStart": fd00::1 is not a usable address of subnet 10.0.0.0/24 (10.0.0.1-10.0.0.254)`},
		{"rangeStart not an ip", `{"name": "n", "ipam": {"subnet": "10.0.0.0/24", "rangeStart": "ten"}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam.rangeStart": "ten" is not an IP address`},
		{"end before start", `{"name": "n", "ipam": {"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.50", "rangeEnd": "10.0.0.40"}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam.rangeEnd": 10.0.0.40 is before rangeStart 10.0.0.50`},
		{"gateway outside", `{"name": "n", "ipam": {"ranges": [[{"subnet": "fd00::/64", "gateway": "fd01::1"}]]}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam.ranges[0][0].gateway": fd01::1 is not a usable address of subnet fd00::/64 (fd00::1-fd00::ffff:ffff:ffff:ffff)`},
		{"only the gateway", `{"name": "n", "ipam": {"ranges": [[{"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.1", "rangeEnd": "10.0.0.1"}]]}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam.ranges[0][0]": range 10.0.0.0/24 10.0.0.1-10.0.0.1 holds only the gateway`},
		{"overlapping range sets", `{"name": "n", "ipam": {"subnet": "10.0.0.0/16", "ranges": [[{"subnet": "10.0.5.0/24"}]]}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam.ranges[0]": overlaps range set 0 (ipam.subnet: 10.0.0.0/16 10.0.0.1-10.0.255.254)`},
		{"overlapping ranges in a set", `{"name": "n", "ipam": {"ranges": [[{"subnet": "10.0.0.0/24", "rangeEnd": "10.0.0.100"}, {"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.100"}]]}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam.ranges[0][1]": overlaps ipam.ranges[0][0] (10.0.0.0/24 10.0.0.1-10.0.0.100)`},
		{"mixed families in a set", `{"name": "n", "ipam": {"ranges": [[{"subnet": "10.0.0.0/24"}, {"subnet": "fd00::/64"}]]}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam.ranges[0][1]": mixes address families with ipam.ranges[0][0] (10.0.0.0/24)`},
		{"two v4 sets in 0.2.0", `{"cniVersion": "0.2.0", "name": "n", "ipam": {"ranges": [[{"subnet": "10.0.0.0/24"}], [{"subnet": "10.1.0.0/24"}]]}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam.ranges": cniVersion 0.2.0 allows at most one IPv4 and one IPv6 range set`},
		{"two v4 sets without cniVersion", `{"name": "n", "ipam": {"ranges": [[{"subnet": "10.0.0.0/24"}], [{"subnet": "10.1.0.0/24"}]]}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam.ranges": cniVersion 0.1.0 allows at most one IPv4 and one IPv6 range set`},
		{"route without dst", `{"name": "n", "ipam": {"subnet": "10.0.0.0/24", "routes": [{"dst": "0.0.0.0/0"}, {"gw": "10.0.0.1"}]}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam.routes[1].dst": a destination is required`},
		{"route bad dst", `{"name": "n", "ipam": {"subnet": "10.0.0.0/24", "routes": [{"dst": "nowhere"}]}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "ipam.routes[0]": invalid CIDR address: nowhere`},
		{"CNI_ARGS bad IP", `{"name": "n", "ipam": {"subnet": "10.0.0.0/24"}}`, "IgnoreUnknown=1;IP=10.0.0.300", types.ErrInvalidEnvironmentVariables,
			`invalid CNI_ARGS IP "10.0.0.300": "10.0.0.300" is not an IP address`},
		{"CNI_ARGS pair without value", `{"name": "n", "ipam": {"subnet": "10.0.0.0/24"}}`, "IgnoreUnknown=1;IP", types.ErrInvalidEnvironmentVariables,
			`invalid CNI_ARGS pair "IP": want KEY=VALUE`},
		{"CNI_ARGS IP outside", `{"name": "n", "ipam": {"subnet": "10.0.0.0/24"}}`, "IP=10.9.9.9", types.ErrInvalidNetworkConfig,
			`invalid field "CNI_ARGS IP": requested address 10.9.9.9 is in no range set (10.0.0.0/24 10.0.0.1-10.0.0.254)`},
		{"requested gateway", `{"name": "n", "ipam": {"subnet": "10.0.0.0/24"}, "runtimeConfig": {"ips": ["10.0.0.1/24"]}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "runtimeConfig.ips[0]": requested address 10.0.0.1 is the gateway of 10.0.0.0/24`},
		{"args ips bad", `{"name": "n", "ipam": {"subnet": "10.0.0.0/24"}, "args": {"cni": {"ips": ["x"]}}}`, "", types.ErrInvalidNetworkConfig,
			`invalid field "args.cni.ips[0]": "x" is not an IP address`},
		{"two requests one set", `{"name": "n", "ipam": {"subnet": "10.0.0.0/24"}, "args": {"cni": {"ips": ["10.0.0.7"]}}}`, "IP=10.0.0.5", types.ErrInvalidNetworkConfig,
			`invalid field "args.cni.ips[0]": requested address 10.0.0.7 and 10.0.0.5 (CNI_ARGS IP) are both in range set 0; one address per range set`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadConfig([]byte(tc.conf), tc.args)
			if err == nil {
				t.Fatalf("LoadConfig succeeded: %+v", c)
			}
			e, ok := err.(*types.Error)
			if !ok {
				t.Fatalf("error %T %v is not a *types.Error", err, err)
			}
			if e.Code != tc.code || e.Msg != tc.msg {
				t.Errorf("got code %d\n  %s\nwant code %d\n  %s", e.Code, e.Msg, tc.code, tc.msg)
			}
		})
	}
}

func TestLoadConfigDefaults(t *testing.T) {
	r := func(subnet, start, end, gw string) Range {
		return Range{Subnet: netip.MustParsePrefix(subnet), Start: netip.MustParseAddr(start), End: netip.MustParseAddr(end), Gateway: netip.MustParseAddr(gw)}
	}
	tests := []struct {
		name, conf string
		want       []RangeSet
	}{
		{"legacy v4", `{"name": "n", "ipam": {"subnet": "10.22.0.0/16"}}`,
			[]RangeSet{{Field: "ipam.subnet", Ranges: []Range{r("10.22.0.0/16", "10.22.0.1", "10.22.255.254", "10.22.0.1")}}}},
		{"legacy with bounds", `{"name": "n", "ipam": {"subnet": "10.22.0.0/16", "rangeStart": "10.22.1.10", "rangeEnd": "10.22.1.20", "gateway": "10.22.0.254"}}`,
			[]RangeSet{{Field: "ipam.subnet", Ranges: []Range{r("10.22.0.0/16", "10.22.1.10", "10.22.1.20", "10.22.0.254")}}}},
		{"v4 /30", `{"name": "n", "ipam": {"ranges": [[{"subnet": "10.0.0.0/30"}]]}}`,
			[]RangeSet{{Field: "ipam.ranges[0]", Ranges: []Range{r("10.0.0.0/30", "10.0.0.1", "10.0.0.2", "10.0.0.1")}}}},
		{"v6", `{"name": "n", "ipam": {"ranges": [[{"subnet": "fd00:1::/120"}]]}}`,
			[]RangeSet{{Field: "ipam.ranges[0]", Ranges: []Range{r("fd00:1::/120", "fd00:1::1", "fd00:1::ff", "fd00:1::1")}}}},
		{"v6 /64", `{"name": "n", "ipam": {"ranges": [[{"subnet": "2001:db8::/64"}]]}}`,
			[]RangeSet{{Field: "ipam.ranges[0]", Ranges: []Range{r("2001:db8::/64", "2001:db8::1", "2001:db8::ffff:ffff:ffff:ffff", "2001:db8::1")}}}},
		{"odd prefix", `{"name": "n", "ipam": {"ranges": [[{"subnet": "10.1.16.0/20"}]]}}`,
			[]RangeSet{{Field: "ipam.ranges[0]", Ranges: []Range{r("10.1.16.0/20", "10.1.16.1", "10.1.31.254", "10.1.16.1")}}}},
		{"runtime, legacy, ranges in order", `{"name": "n", "ipam": {"subnet": "10.1.0.0/24", "ranges": [[{"subnet": "fd00::/120"}, {"subnet": "fd01::/120"}]]},
			"runtimeConfig": {"ipRanges": [[{"subnet": "10.2.0.0/24"}]]}, "cniVersion": "0.3.1"}`,
			[]RangeSet{
				{Field: "runtimeConfig.ipRanges[0]", Ranges: []Range{r("10.2.0.0/24", "10.2.0.1", "10.2.0.254", "10.2.0.1")}},
				{Field: "ipam.subnet", Ranges: []Range{r("10.1.0.0/24", "10.1.0.1", "10.1.0.254", "10.1.0.1")}},
				{Field: "ipam.ranges[0]", Ranges: []Range{r("fd00::/120", "fd00::1", "fd00::ff", "fd00::1"), r("fd01::/120", "fd01::1", "fd01::ff", "fd01::1")}},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadConfig([]byte(tc.conf), "")
			if err != nil {
				t.Fatal(err)
			}
			if got, want := fmt.Sprint(c.RangeSets), fmt.Sprint(tc.want); got != want {
				t.Errorf("range sets\n got %s\nwant %s", got, want)
			}
			if c.DataDir != DefaultDataDir || c.Network != "n" {
				t.Errorf("dataDir %q network %q", c.DataDir, c.Network)
			}
		})
	}
}

func TestRequestedAddresses(t *testing.T) {
	conf := `{"cniVersion": "1.0.0", "name": "n", "ipam": {"ranges": [[{"subnet": "10.0.0.0/24"}], [{"subnet": "fd00::/64"}], [{"subnet": "10.1.0.0/24"}]]},
		"args": {"cni": {"ips": ["fd00::5/64"]}}, "runtimeConfig": {"ips": ["10.1.0.9", "10.0.0.20"]}}`
	c, err := LoadConfig([]byte(conf), "IgnoreUnknown=1;K8S_POD_NAME=web;IP=10.0.0.20")
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(c.Requested)
	want := "[{10.0.0.20 CNI_ARGS IP 0} {fd00::5 args.cni.ips[0] 1} {10.1.0.9 runtimeConfig.ips[0] 2}]"
	if got != want {
		t.Errorf("requested\n got %s\nwant %s", got, want)
	}
	c, err = LoadConfig([]byte(conf), "IP=10.0.0.20,10.1.0.9")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(c.Requested), 3; got != want {
		t.Errorf("comma-separated IP: %d requests, want %d: %v", got, want, c.Requested)
	}
}
