package masq

import (
	"net"

	"github.com/weirnet/weir/plugins/internal/ipset"
)

// SetPrefix starts the name of every masquerade ipset weir makes. The
// policy engine's dataplane writer, which owns every other weir- set,
// leaves sets with this prefix alone (dataplane.MasqSetPrefix).
const SetPrefix = "weir-nat-"

// SetInfo is what a listing tells of one ipset.
type SetInfo struct {
	Name       string
	Family     Family
	Entries    int // members, as the kernel counts them
	References int // rules (and other kernel users) that match on the set
	// Members are the set's members; empty when only headers were listed.
	Members []Member
}

// Member is one address of a set with the comment naming its owner.
type Member struct {
	IP      net.IP
	Comment string
}

// ErrSetMissing says an ipset does not exist (ipset.ErrSetMissing).
var ErrSetMissing = ipset.ErrSetMissing

// ErrSetInUse says an ipset cannot be destroyed because a rule still
// matches on it (ipset.ErrSetInUse).
var ErrSetInUse = ipset.ErrSetInUse

// Sets is the narrow interface over the kernel's ipsets that masq needs.
// Each call acts in the calling thread's network namespace.
type Sets interface {
	// Header returns the named set without its members, ErrSetMissing
	// when there is none. It costs the same whatever the set holds.
	Header(name string) (SetInfo, error)
	// List returns the named set with its members, ErrSetMissing when
	// there is none.
	List(name string) (SetInfo, error)
	// Headers returns every set of the namespace without members.
	Headers() ([]SetInfo, error)
	// Create makes an empty hash:ip set of family f whose members carry
	// comments. A set of that name that exists already is success.
	Create(name string, f Family) error
	// Add puts m into the set, replacing the comment of a member with the
	// same address. A missing set is ErrSetMissing.
	Add(name string, m Member) error
	// Del removes ip from the set and reports whether it was there. A
	// missing member is success; a missing set is ErrSetMissing.
	Del(name string, ip net.IP) (bool, error)
	// Destroy removes the set. A missing set is success; a set a rule
	// still matches on is ErrSetInUse.
	Destroy(name string) error
}
