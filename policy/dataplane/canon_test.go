package dataplane

import (
	"strings"
	"testing"
)

func TestCanonicalRuleShapes(t *testing.T) {
	for _, tc := range ruleShapes {
		got, err := CanonicalRule(tc.fam, tc.in)
		if err != nil {
			t.Errorf("CanonicalRule(%s, %q): %v", tc.fam, tc.in, err)
			continue
		}
		if got != tc.print {
			t.Errorf("CanonicalRule(%s, %q)\n got %q\nwant %q", tc.fam, tc.in, got, tc.print)
		}
		// The printed form is a fixed point.
		again, err := CanonicalRule(tc.fam, tc.print)
		if err != nil || again != tc.print {
			t.Errorf("CanonicalRule(%s, %q) = %q, %v; want it unchanged", tc.fam, tc.print, again, err)
		}
	}
}

func TestCanonicalRuleErrors(t *testing.T) {
	for _, tc := range []struct {
		fam       Family
		in, error string
	}{
		{IPv4, `-m comment --comment "open -j ACCEPT`, "unterminated quote"},
		{IPv4, "-j ACCEPT\n-A FORWARD -j DROP", "line break"},
		{IPv4, `-s example.com -j ACCEPT`, `bad address "example.com"`},
		{IPv4, `-s fd00::1 -j ACCEPT`, `address "fd00::1" is not ipv4`},
		{IPv6, `-d 10.0.0.1 -j ACCEPT`, `address "10.0.0.1" is not ipv6`},
		{IPv4, `-s 10.0.0.0/255.0.255.0 -j ACCEPT`, "non-contiguous mask"},
		{IPv4, `-s 10.0.0.0/33 -j ACCEPT`, "bad prefix length"},
		{IPv4, `-j ACCEPT -A FORWARD`, "command -A inside a rule"},
		{IPv4, `-j ACCEPT -j DROP`, "more than one target"},
		{IPv4, `--dport 80 -j ACCEPT`, "option --dport outside any match"},
		{IPv4, `-m conntrack --ctstate BOGUS -j ACCEPT`, `unknown conntrack state "BOGUS"`},
		{IPv4, `-p icmp --icmp-type nonsense -j ACCEPT`, `unknown icmp type "nonsense"`},
		{IPv4, `-j REJECT --reject-with icmp6-no-route`, `bad --reject-with "icmp6-no-route" for ipv4`},
		{IPv4, `-j LOG --log-level 9`, `bad log level "9"`},
		{IPv4, `-m mark --mark zz -j ACCEPT`, `bad mark "zz"`},
		{IPv4, `-j ACCEPT !`, "negation at the end"},
		{IPv4, `-s`, "-s needs a value"},
		{IPv4, `-m set --match-set weir-x`, "--match-set needs 2 value(s)"},
		{IPv4, `-j ACCEPT "stray"`, `unexpected value "stray"`},
		{IPv4, `-j ACCEPT --bogus`, "unknown option --bogus for -j ACCEPT"},
	} {
		_, err := CanonicalRule(tc.fam, tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.error) {
			t.Errorf("CanonicalRule(%s, %q) = %v, want an error containing %q", tc.fam, tc.in, err, tc.error)
		}
	}
}

func TestCanonicalRuleUnknownModulesKeptInPlace(t *testing.T) {
	got, err := CanonicalRule(IPv4, `-m limit --limit 5/min -p tcp --dport 22 -j CONNMARK --set-mark 1`)
	if err != nil {
		t.Fatal(err)
	}
	want := `-p tcp -m limit --limit 5/min -m tcp --dport 22 -j CONNMARK --set-mark 1`
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestTokenize(t *testing.T) {
	toks, err := tokenize(`-m comment --comment "a \"b\" c\\d" x"y z" -j  ACCEPT`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tk := range toks {
		got = append(got, tk.s)
	}
	want := []string{"-m", "comment", "--comment", `a "b" c\d`, "xy z", "-j", "ACCEPT"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("tokens %q, want %q", got, want)
	}
	toks, err = tokenize(`"a"b "" "x\"`)
	if err == nil {
		t.Fatalf("unterminated quote after an escaped quote accepted: %+v", toks)
	}
	toks, err = tokenize(`"a"b ""`)
	if err != nil || len(toks) != 3 || toks[0].s != "a" || !toks[0].quoted || toks[1].s != "b" || toks[1].quoted || toks[2].s != "" || !toks[2].quoted {
		t.Fatalf("tokens %+v, %v", toks, err)
	}
	if jumpTarget(`-m comment --comment "-j WEIR-X" -j DROP`) != "DROP" {
		t.Fatal("jumpTarget looked inside a quoted comment")
	}
}

func TestCanonicalStateMembersAndValidation(t *testing.T) {
	s := NewState()
	s.Sets["weir-n"] = IPSet{Name: "weir-n", Type: "hash:net", Family: IPv4,
		Members: []string{"10.9.9.9/32", "10.1.2.3/24", "10.9.9.9", "192.168.0.0/16"}}
	s.Sets["weir-i6"] = IPSet{Name: "weir-i6", Type: "hash:ip", Family: IPv6,
		Members: []string{"FD00::0001", "fd00::2/128"}}
	c, err := s.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Sets["weir-n"].Members, " "); got != "10.1.2.0/24 10.9.9.9 192.168.0.0/16" {
		t.Errorf("hash:net members %q", got)
	}
	if got := strings.Join(c.Sets["weir-i6"].Members, " "); got != "fd00::1 fd00::2" {
		t.Errorf("hash:ip members %q", got)
	}

	bad := []struct {
		mutate func(*State)
		error  string
	}{
		{func(s *State) { s.Sets["weir-x"] = IPSet{Name: "weir-y", Type: "hash:ip", Family: IPv4} }, `stored under key "weir-x"`},
		{func(s *State) { s.Sets["x"] = IPSet{Name: "x", Type: "hash:ip", Family: IPv4} }, `ipset name "x" must start with weir-`},
		{func(s *State) { s.Sets["weir-x"] = IPSet{Name: "weir-x", Type: "list:set", Family: IPv4} }, `unsupported type "list:set"`},
		{func(s *State) {
			s.Sets["weir-x"] = IPSet{Name: "weir-x", Type: "hash:ip", Family: IPv4, Members: []string{"10.0.0.0/30"}}
		}, "must be a single address"},
		{func(s *State) {
			s.Sets["weir-x"] = IPSet{Name: "weir-x", Type: "hash:net", Family: IPv4, Members: []string{"fd00::/64"}}
		}, `member "fd00::/64" is not ipv4`},
		{func(s *State) {
			s.Chains[ChainKey(Filter, IPv4, "FOO")] = Chain{Table: Filter, Family: IPv4, Name: "FOO"}
		}, `chain name "FOO" must start with WEIR-`},
		{func(s *State) {
			s.Chains[ChainKey(Filter, IPv4, "WEIR-A-VERY-LONG-CHAIN-NAME-XY")] = Chain{Table: Filter, Family: IPv4, Name: "WEIR-A-VERY-LONG-CHAIN-NAME-XY"}
		}, "at most 28 characters"},
		{func(s *State) {
			s.Chains["x"] = Chain{Table: Filter, Family: IPv4, Name: "WEIR-A"}
		}, `stored under key "x"`},
		{func(s *State) {
			s.Chains[ChainKey("security", IPv4, "WEIR-A")] = Chain{Table: "security", Family: IPv4, Name: "WEIR-A"}
		}, `unknown table "security"`},
		{func(s *State) {
			s.Chains[ChainKey(Filter, IPv4, "WEIR-A")] = Chain{Table: Filter, Family: IPv4, Name: "WEIR-A", Rules: []string{"-j WEIR-B"}}
		}, "jumps to ipv4/filter/WEIR-B, which is not in the state"},
		{func(s *State) {
			s.Chains[ChainKey(Filter, IPv4, "WEIR-A")] = Chain{Table: Filter, Family: IPv4, Name: "WEIR-A",
				Rules: []string{"-m set --match-set weir-missing src -j ACCEPT"}}
		}, "matches ipset weir-missing, which is not in the state"},
		{func(s *State) {
			s.Chains[ChainKey(Filter, IPv4, "WEIR-A")] = Chain{Table: Filter, Family: IPv4, Name: "WEIR-A",
				Rules: []string{"-m set --match-set weir-i6 src -j ACCEPT"}}
		}, "is ipv4 but matches ipv6 ipset weir-i6"},
		{func(s *State) {
			s.Hooks = append(s.Hooks, Hook{Table: Filter, Family: IPv4, Chain: "PREROUTING", Rule: "-j WEIR-A"})
		}, `"PREROUTING" is not a built-in chain of table filter`},
		{func(s *State) {
			s.Hooks = append(s.Hooks, Hook{Table: Filter, Family: IPv4, Chain: "FORWARD", Rule: "-j ACCEPT"})
		}, "does not jump to a WEIR- chain"},
		{func(s *State) {
			s.Chains[ChainKey(Filter, IPv4, "WEIR-A")] = Chain{Table: Filter, Family: IPv4, Name: "WEIR-A"}
			h := Hook{Table: Filter, Family: IPv4, Chain: "FORWARD", Rule: "-j WEIR-A"}
			s.Hooks = append(s.Hooks, h, h)
		}, "is given twice"},
	}
	for _, tc := range bad {
		s := NewState()
		s.Sets["weir-i6"] = IPSet{Name: "weir-i6", Type: "hash:ip", Family: IPv6}
		tc.mutate(&s)
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), tc.error) {
			t.Errorf("Validate() = %v, want an error containing %q", err, tc.error)
		}
	}
}
