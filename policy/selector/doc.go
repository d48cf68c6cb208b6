// Package selector parses and evaluates Calico-style label selectors, the
// expressions weir's network policies use to pick containers by their
// labels:
//
//	app == 'db' && env in {'prod', 'staging'}
//	!has(canary) || tier != "frontend"
//
// The grammar, loosest binding first:
//
//	expr    = and { "||" and }
//	and     = unary { "&&" unary }
//	unary   = "!" unary | primary
//	primary = "(" expr ")" | "all()" | "has(" key ")"
//	        | key "==" value | key "!=" value
//	        | key "in" set | key "not" "in" set
//	set     = "{" [ value { "," value } ] "}"
//	value   = a string in single or double quotes (no escapes)
//	key     = letters, digits, '.', '/', '-', '_'
//
// k != 'v' and k not in {...} are true when k is absent; the empty
// selector is all(). Every Selector has a canonical String(): different
// spellings of the same expression — whitespace, quote style, redundant
// parentheses, set order and duplicates — give the same string, so it can
// be used as a key for hashing and deduplication.
package selector
