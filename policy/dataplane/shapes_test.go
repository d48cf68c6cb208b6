package dataplane

// ruleShapes are the rule shapes weir's compiler writes (and a few more),
// each as a compiler might spell it and as iptables-save prints it. The
// unprivileged test checks CanonicalRule against the printed form; the
// privileged test writes every input through the real iptables-restore of
// each backend and checks iptables-save prints exactly the canonical form.
// Sets named here exist in the privileged test: weir-rt4 (hash:ip, inet),
// weir-rt6 (hash:net, inet6); chains WEIR-RT and WEIR-RT-T.
var ruleShapes = []struct {
	fam       Family
	in, print string
}{
	// IP header fields, reordered; prefixes completed and masked.
	{IPv4, `-j ACCEPT`, `-j ACCEPT`},
	{IPv4, `-s 10.1.2.3 -j ACCEPT`, `-s 10.1.2.3/32 -j ACCEPT`},
	{IPv4, `-d 10.1.2.3/24 -j DROP`, `-d 10.1.2.0/24 -j DROP`},
	{IPv4, `-s 10.0.0.0/255.0.0.0 -j RETURN`, `-s 10.0.0.0/8 -j RETURN`},
	{IPv4, `-i eth0 ! -s 10.0.0.0/8 -o weir0 -d 192.168.1.1 -j DROP`, `! -s 10.0.0.0/8 -d 192.168.1.1/32 -i eth0 -o weir0 -j DROP`},
	{IPv4, `-o veth+ -i br0 -j ACCEPT`, `-i br0 -o veth+ -j ACCEPT`},
	{IPv6, `-s 2001:DB8:0:0::1 -j ACCEPT`, `-s 2001:db8::1/128 -j ACCEPT`},
	{IPv6, `-d fd00:1:2:3::/64 ! -i lo -j DROP`, `-d fd00:1:2:3::/64 ! -i lo -j DROP`},
	// Comments: always quoted unless plain; quotes escaped.
	{IPv4, `-m comment --comment "weir: container abc" -j ACCEPT`, `-m comment --comment "weir: container abc" -j ACCEPT`},
	{IPv4, `-m comment --comment weir:single -j DROP`, `-m comment --comment "weir:single" -j DROP`},
	{IPv4, `-m comment --comment plain_word-1 -j DROP`, `-m comment --comment plain_word-1 -j DROP`},
	{IPv4, `-m comment --comment "say \"hi\"" -j DROP`, `-m comment --comment "say \"hi\"" -j DROP`},
	// conntrack and state.
	{IPv4, `-m conntrack --ctstate ESTABLISHED,RELATED -m comment --comment "weir: replies" -j ACCEPT`,
		`-m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "weir: replies" -j ACCEPT`},
	{IPv4, `-m conntrack --ctstate INVALID -m comment --comment "weir: invalid" -j DROP`,
		`-m conntrack --ctstate INVALID -m comment --comment "weir: invalid" -j DROP`},
	{IPv4, `-m conntrack ! --ctstate new,established -j DROP`, `-m conntrack ! --ctstate NEW,ESTABLISHED -j DROP`},
	{IPv6, `-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`, `-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`},
	// physdev.
	{IPv4, `-m physdev --physdev-is-bridged --physdev-in veth1 -m comment --comment "weir: ep abc" -g WEIR-RT-T`,
		`-m physdev --physdev-in veth1 --physdev-is-bridged -m comment --comment "weir: ep abc" -g WEIR-RT-T`},
	{IPv4, `-o weir0 -m physdev --physdev-out veth1 --physdev-is-bridged -j WEIR-RT-T`,
		`-o weir0 -m physdev --physdev-out veth1 --physdev-is-bridged -j WEIR-RT-T`},
	{IPv6, `-m physdev --physdev-in veth2 --physdev-is-bridged -g WEIR-RT-T`,
		`-m physdev --physdev-in veth2 --physdev-is-bridged -g WEIR-RT-T`},
	// ipset matches.
	{IPv4, `-m set --match-set weir-rt4 src -j ACCEPT`, `-m set --match-set weir-rt4 src -j ACCEPT`},
	{IPv4, `-m set ! --match-set weir-rt4 dst -j DROP`, `-m set ! --match-set weir-rt4 dst -j DROP`},
	{IPv6, `-m set --match-set weir-rt6 src -m comment --comment "weir: peers" -j ACCEPT`,
		`-m set --match-set weir-rt6 src -m comment --comment "weir: peers" -j ACCEPT`},
	// Ports: implicit match made explicit, multiport.
	{IPv4, `-p tcp --dport 80 -j ACCEPT`, `-p tcp -m tcp --dport 80 -j ACCEPT`},
	{IPv4, `-p TCP -m tcp --destination-port 8000:8080 --sport 1024: -j ACCEPT`, `-p tcp -m tcp --sport 1024:65535 --dport 8000:8080 -j ACCEPT`},
	{IPv4, `-p udp -m udp --dport 53 -j ACCEPT`, `-p udp -m udp --dport 53 -j ACCEPT`},
	{IPv4, `-p 17 --sport 67 -j ACCEPT`, `-p udp -m udp --sport 67 -j ACCEPT`},
	{IPv4, `-p tcp -m multiport --dports 5432,8000:8080 -j ACCEPT`, `-p tcp -m multiport --dports 5432,8000:8080 -j ACCEPT`},
	{IPv4, `-s 10.1.2.3 -d 10.0.0.0/8 -p tcp -m multiport --destination-ports 5432,8000:8080 -m set --match-set weir-rt4 src -m comment --comment "weir: container abc" -j ACCEPT`,
		`-s 10.1.2.3/32 -d 10.0.0.0/8 -p tcp -m multiport --dports 5432,8000:8080 -m set --match-set weir-rt4 src -m comment --comment "weir: container abc" -j ACCEPT`},
	{IPv6, `-p udp -m multiport --sports 53,123 -j ACCEPT`, `-p udp -m multiport --sports 53,123 -j ACCEPT`},
	{IPv4, `-p tcp --syn -j DROP`, `-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j DROP`},
	{IPv4, `-p tcp -m tcp --tcp-flags ALL NONE -j DROP`, `-p tcp -m tcp --tcp-flags FIN,SYN,RST,PSH,ACK,URG NONE -j DROP`},
	{IPv4, `-p tcp -m tcp ! --dport 22 -j DROP`, `-p tcp -m tcp ! --dport 22 -j DROP`},
	{IPv4, `-p tcp -j ACCEPT`, `-p tcp -j ACCEPT`},
	{IPv4, `-p all -j ACCEPT`, `-j ACCEPT`},
	// ICMP.
	{IPv4, `-p icmp --icmp-type echo-request -j ACCEPT`, `-p icmp -m icmp --icmp-type 8 -j ACCEPT`},
	{IPv4, `-p icmp -m icmp --icmp-type port-unreachable -j ACCEPT`, `-p icmp -m icmp --icmp-type 3/3 -j ACCEPT`},
	{IPv4, `-p icmp -m icmp --icmp-type any -j ACCEPT`, `-p icmp -m icmp --icmp-type any -j ACCEPT`},
	{IPv4, `-p icmp -j ACCEPT`, `-p icmp -j ACCEPT`},
	{IPv6, `-p icmpv6 --icmpv6-type echo-request -j ACCEPT`, `-p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT`},
	{IPv6, `-p ipv6-icmp -m icmp6 --icmpv6-type neighbour-solicitation -j ACCEPT`, `-p ipv6-icmp -m icmp6 --icmpv6-type 135 -j ACCEPT`},
	{IPv6, `-p icmpv6 -j ACCEPT`, `-p ipv6-icmp -j ACCEPT`},
	// Marks.
	{IPv4, `-m mark --mark 0x10000/0x10000 -j RETURN`, `-m mark --mark 0x10000/0x10000 -j RETURN`},
	{IPv4, `-m mark ! --mark 16 -j RETURN`, `-m mark ! --mark 0x10 -j RETURN`},
	{IPv4, `-j MARK --set-xmark 0x10000/0x10000`, `-j MARK --set-xmark 0x10000/0x10000`},
	{IPv4, `-j MARK --set-mark 0x4000/0x4000`, `-j MARK --set-xmark 0x4000/0x4000`},
	{IPv4, `-j MARK --set-mark 1`, `-j MARK --set-xmark 0x1/0xffffffff`},
	{IPv4, `-j MARK --or-mark 0x2`, `-j MARK --set-xmark 0x2/0x2`},
	{IPv6, `-j MARK --and-mark 0xffff0000`, `-j MARK --set-xmark 0x0/0xffff`},
	// LOG and REJECT.
	{IPv4, `-m set --match-set weir-rt4 dst -m comment --comment "weir: container abc" -j LOG --log-prefix "weir-deny abc: " --log-level 4`,
		`-m set --match-set weir-rt4 dst -m comment --comment "weir: container abc" -j LOG --log-prefix "weir-deny abc: "`},
	{IPv4, `-j LOG --log-level info --log-prefix weir`, `-j LOG --log-prefix weir --log-level 6`},
	{IPv6, `-m comment --comment "weir: log" -j LOG --log-prefix "weir-deny: "`, `-m comment --comment "weir: log" -j LOG --log-prefix "weir-deny: "`},
	{IPv4, `-j REJECT`, `-j REJECT --reject-with icmp-port-unreachable`},
	{IPv4, `-p tcp -j REJECT --reject-with tcp-rst`, `-p tcp -j REJECT --reject-with tcp-reset`},
	{IPv6, `-j REJECT`, `-j REJECT --reject-with icmp6-port-unreachable`},
	{IPv6, `-j REJECT --reject-with adm-prohibited`, `-j REJECT --reject-with icmp6-adm-prohibited`},
	// Addrtype, goto and an empty rule.
	{IPv4, `-m addrtype --dst-type LOCAL -j RETURN`, `-m addrtype --dst-type LOCAL -j RETURN`},
	{IPv4, `-g WEIR-RT-T`, `-g WEIR-RT-T`},
	{IPv4, ``, ``},
}
