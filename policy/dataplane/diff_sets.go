package dataplane

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
)

// setReplace is a set whose type or family changes. The kernel refuses to
// destroy or rename a set a rule matches, so the new contents go into a
// temporary set first, the rules are pointed at it, the set is made anew
// under its name, the rules are pointed back, and the temporary set goes.
type setReplace struct {
	set       IPSet
	tmp       string
	tmpExists bool // left over from an interrupted replace: destroyed first
}

// diffSets fills the set phases of p and returns the sets being replaced.
func diffSets(p *plan, cur current, want State) map[string]bool {
	replaced := map[string]bool{}
	for _, name := range sortedKeys(want.Sets) {
		ws := want.Sets[name]
		cs, ok := cur.Sets[name]
		switch {
		case !ok:
			p.create = append(p.create, ws)
		case cs.Type != ws.Type || cs.Family != ws.Family:
			tmp := tmpSetName(name)
			_, exists := cur.Sets[tmp]
			p.replace = append(p.replace, setReplace{set: ws, tmp: tmp, tmpExists: exists})
			replaced[name] = true
		default:
			add, del := memberDiff(cs.Members, ws.Members)
			if len(add) > 0 {
				p.add[name] = add
			}
			if len(del) > 0 {
				p.del[name] = del
			}
		}
	}
	for _, name := range sortedKeys(cur.Sets) {
		if _, ok := want.Sets[name]; ok {
			continue
		}
		skip := false
		for _, r := range p.replace {
			skip = skip || (r.tmp == name && r.tmpExists)
		}
		if !skip {
			p.destroy = append(p.destroy, name)
		}
	}
	return replaced
}

// tmpSetName is where a set being replaced is moved.
func tmpSetName(name string) string {
	sum := sha256.Sum256([]byte(name))
	return SetPrefix + "old-" + hex.EncodeToString(sum[:4])
}

// memberDiff returns the members of want missing from have and those of
// have missing from want (both sorted).
func memberDiff(have, want []string) (add, del []string) {
	h := make(map[string]bool, len(have))
	for _, m := range have {
		h[m] = true
	}
	w := make(map[string]bool, len(want))
	for _, m := range want {
		w[m] = true
		if !h[m] {
			add = append(add, m)
		}
	}
	for _, m := range have {
		if !w[m] {
			del = append(del, m)
		}
	}
	sort.Strings(add)
	sort.Strings(del)
	return add, del
}
