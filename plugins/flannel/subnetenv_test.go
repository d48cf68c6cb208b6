package flannel

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

// seedSubnetEnv is the subnet file of the seed document's Flannel section.
const seedSubnetEnv = `FLANNEL_NETWORK=192.168.0.0/16
FLANNEL_SUBNET=192.168.22.129/26
FLANNEL_MTU=1450
FLANNEL_IPMASQ=false
`

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestParseSubnetEnv(t *testing.T) {
	const path = "/run/flannel/subnet.env"
	tests := []struct {
		name    string
		in      string
		want    *SubnetEnv
		wantErr string
		code    uint
	}{
		{
			name: "seed",
			in:   seedSubnetEnv,
			want: &SubnetEnv{Networks: prefixes("192.168.0.0/16"), Subnet: netip.MustParsePrefix("192.168.22.129/26"), MTU: 1450},
		},
		{
			name: "ipmasq true, comments, blanks, quotes, spaces, unknown keys, later line wins",
			in:   "# written by flanneld\n\nFLANNEL_NETWORK=\"10.0.0.0/8\"\nFLANNEL_SUBNET = 10.5.1.1/24\nFLANNEL_MTU=1500\nFLANNEL_MTU=8951\nFLANNEL_IPMASQ=true\nFLANNEL_BACKEND=vxlan\n",
			want: &SubnetEnv{Networks: prefixes("10.0.0.0/8"), Subnet: netip.MustParsePrefix("10.5.1.1/24"), MTU: 8951, IPMasq: true},
		},
		{
			name: "several networks, normalised and deduplicated",
			in:   "FLANNEL_NETWORK=10.42.0.0/16,10.43.7.0/16, 10.42.0.0/16\nFLANNEL_SUBNET=10.43.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n",
			want: &SubnetEnv{Networks: prefixes("10.42.0.0/16", "10.43.0.0/16"), Subnet: netip.MustParsePrefix("10.43.3.1/24"), MTU: 1450},
		},
		{
			name: "dual stack",
			in:   seedSubnetEnv + "FLANNEL_IPV6_NETWORK=fd00:10::/56\nFLANNEL_IPV6_SUBNET=fd00:10:0:22::1/64\n",
			want: &SubnetEnv{
				Networks: prefixes("192.168.0.0/16"), Subnet: netip.MustParsePrefix("192.168.22.129/26"),
				IPv6Networks: prefixes("fd00:10::/56"), IPv6Subnet: netip.MustParsePrefix("fd00:10:0:22::1/64"),
				MTU: 1450,
			},
		},
		{
			name: "IPv6 only",
			in:   "FLANNEL_IPV6_NETWORK=fd00:10::/56\nFLANNEL_IPV6_SUBNET=fd00:10:0:22::1/64\nFLANNEL_MTU=1430\nFLANNEL_IPMASQ=true\n",
			want: &SubnetEnv{IPv6Networks: prefixes("fd00:10::/56"), IPv6Subnet: netip.MustParsePrefix("fd00:10:0:22::1/64"), MTU: 1430, IPMasq: true},
		},
		{
			name:    "bad CIDR names file, line and key",
			in:      "FLANNEL_NETWORK=192.168.0.0/16\nFLANNEL_SUBNET=192.168.22.300/26\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n",
			wantErr: `/run/flannel/subnet.env:2: FLANNEL_SUBNET: invalid CIDR "192.168.22.300/26"`,
			code:    types.ErrInvalidNetworkConfig,
		},
		{
			name:    "address without prefix length",
			in:      "FLANNEL_NETWORK=192.168.0.0\n",
			wantErr: `/run/flannel/subnet.env:1: FLANNEL_NETWORK: invalid CIDR "192.168.0.0"`,
			code:    types.ErrInvalidNetworkConfig,
		},
		{
			name:    "bad CIDR in a network list",
			in:      "\n\nFLANNEL_NETWORK=10.42.0.0/16,bogus\n",
			wantErr: `/run/flannel/subnet.env:3: FLANNEL_NETWORK: invalid CIDR "bogus"`,
			code:    types.ErrInvalidNetworkConfig,
		},
		{
			name:    "IPv6 CIDR in an IPv4 key",
			in:      "FLANNEL_SUBNET=fd00::1/64\n",
			wantErr: `/run/flannel/subnet.env:1: FLANNEL_SUBNET: fd00::1/64 is not an IPv4 CIDR`,
			code:    types.ErrInvalidNetworkConfig,
		},
		{
			name:    "IPv4 CIDR in an IPv6 key",
			in:      seedSubnetEnv + "FLANNEL_IPV6_NETWORK=10.0.0.0/8\n",
			wantErr: `/run/flannel/subnet.env:5: FLANNEL_IPV6_NETWORK: 10.0.0.0/8 is not an IPv6 CIDR`,
			code:    types.ErrInvalidNetworkConfig,
		},
		{
			name:    "bad MTU",
			in:      "FLANNEL_NETWORK=192.168.0.0/16\nFLANNEL_SUBNET=192.168.22.129/26\nFLANNEL_MTU=jumbo\n",
			wantErr: `/run/flannel/subnet.env:3: FLANNEL_MTU: invalid MTU "jumbo": want a number from 68 to 65535`,
			code:    types.ErrInvalidNetworkConfig,
		},
		{
			name:    "MTU out of range",
			in:      "FLANNEL_MTU=0\n",
			wantErr: `/run/flannel/subnet.env:1: FLANNEL_MTU: invalid MTU "0": want a number from 68 to 65535`,
			code:    types.ErrInvalidNetworkConfig,
		},
		{
			name:    "bad IPMASQ",
			in:      "FLANNEL_IPMASQ=maybe\n",
			wantErr: `/run/flannel/subnet.env:1: FLANNEL_IPMASQ: invalid boolean "maybe": want true or false`,
			code:    types.ErrInvalidNetworkConfig,
		},
		{
			name:    "line without =",
			in:      "FLANNEL_NETWORK=192.168.0.0/16\nFLANNEL_SUBNET\n",
			wantErr: `/run/flannel/subnet.env:2: expected KEY=VALUE, got "FLANNEL_SUBNET"`,
			code:    types.ErrInvalidNetworkConfig,
		},
		{
			name:    "missing MTU",
			in:      "FLANNEL_NETWORK=192.168.0.0/16\nFLANNEL_SUBNET=192.168.22.129/26\nFLANNEL_IPMASQ=false\n",
			wantErr: `flannel subnet file /run/flannel/subnet.env is missing FLANNEL_MTU`,
			code:    types.ErrInvalidNetworkConfig,
		},
		{
			name:    "missing subnet",
			in:      "FLANNEL_NETWORK=192.168.0.0/16\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n",
			wantErr: `flannel subnet file /run/flannel/subnet.env is missing FLANNEL_SUBNET`,
			code:    types.ErrInvalidNetworkConfig,
		},
		{
			name:    "missing IPv6 network",
			in:      seedSubnetEnv + "FLANNEL_IPV6_SUBNET=fd00:10:0:22::1/64\n",
			wantErr: `flannel subnet file /run/flannel/subnet.env is missing FLANNEL_IPV6_NETWORK`,
			code:    types.ErrInvalidNetworkConfig,
		},
		{
			name:    "empty file",
			in:      "",
			wantErr: `flannel subnet file /run/flannel/subnet.env is missing FLANNEL_NETWORK, FLANNEL_SUBNET, FLANNEL_MTU, FLANNEL_IPMASQ (or FLANNEL_IPV6_NETWORK and FLANNEL_IPV6_SUBNET)`,
			code:    types.ErrInvalidNetworkConfig,
		},
		{
			name:    "subnet outside the network",
			in:      "FLANNEL_NETWORK=192.168.0.0/16\nFLANNEL_MTU=1450\nFLANNEL_SUBNET=10.1.2.1/24\nFLANNEL_IPMASQ=false\n",
			wantErr: `/run/flannel/subnet.env:3: FLANNEL_SUBNET 10.1.2.1/24 is not inside FLANNEL_NETWORK 192.168.0.0/16`,
			code:    types.ErrInvalidNetworkConfig,
		},
		{
			name:    "subnet larger than the network",
			in:      "FLANNEL_NETWORK=192.168.0.0/16\nFLANNEL_SUBNET=192.168.0.1/8\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n",
			wantErr: `/run/flannel/subnet.env:2: FLANNEL_SUBNET 192.168.0.1/8 is not inside FLANNEL_NETWORK 192.168.0.0/16`,
			code:    types.ErrInvalidNetworkConfig,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSubnetEnv(path, strings.NewReader(tt.in))
			if tt.wantErr != "" {
				assertCNIError(t, err, tt.code, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatalf("parseSubnetEnv: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("parseSubnetEnv:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestLoadSubnetEnvFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "subnet.env")

	_, err := LoadSubnetEnv(path)
	assertCNIError(t, err, types.ErrTryAgainLater, "flannel subnet file "+path+
		` does not exist: flanneld must be running on this host and have written its lease there (or set "subnetFile" to where it writes it)`)

	if err := os.WriteFile(path, []byte(seedSubnetEnv), 0o644); err != nil {
		t.Fatal(err)
	}
	se, err := LoadSubnetEnv(path)
	if err != nil {
		t.Fatalf("LoadSubnetEnv: %v", err)
	}
	if se.Subnet.String() != "192.168.22.129/26" || se.MTU != 1450 || se.IPMasq {
		t.Fatalf("LoadSubnetEnv = %+v", se)
	}

	// A directory where the file should be is an I/O error naming the path.
	_, err = LoadSubnetEnv(dir)
	var cerr *types.Error
	if !errors.As(err, &cerr) || cerr.Code != types.ErrIOFailure || !strings.Contains(cerr.Msg, dir) {
		t.Fatalf("LoadSubnetEnv(dir) = %v, want an I/O error naming %s", err, dir)
	}
}

// assertCNIError checks that err is a *types.Error with the code and the
// exact message.
func assertCNIError(t *testing.T, err error, code uint, msg string) {
	t.Helper()
	var cerr *types.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("error = %v (%T), want a CNI error %d %q", err, err, code, msg)
	}
	if cerr.Code != code || cerr.Msg != msg {
		t.Fatalf("error = code %d %q\n want code %d %q", cerr.Code, cerr.Msg, code, msg)
	}
}
