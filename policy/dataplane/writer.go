package dataplane

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// Default host paths (under /run: a reboot forgets the cache along with
// the rules it describes).
const (
	DefaultLockPath = "/run/weir/dataplane.lock"
	DefaultCacheDir = "/run/weir/policy"
)

// Config configures a Writer. The zero value detects the backend, execs
// the real tools and uses the default paths.
type Config struct {
	// Runner runs the tools; nil means an ExecRunner for Backend.
	Runner Runner
	// Backend forces a backend when Runner is nil (empty: detect it on
	// first use). With a Runner it only names the backend in the cache.
	Backend Backend
	// LockPath is the host-wide lock file (DefaultLockPath).
	LockPath string
	// CacheDir holds one cache file per network namespace,
	// dataplane-<netns inode>.json (DefaultCacheDir).
	CacheDir string
	// Tables are the iptables tables this Writer owns: WEIR- chains and
	// hooks elsewhere belong to other parts of weir (masquerade and host
	// ports keep theirs in nat) and are never read or removed. Default:
	// filter only, where policy lives.
	Tables []Table
	// NoCache makes every Apply read the kernel back, as Repair does.
	NoCache bool
	// Log receives warnings (a stale cache, a rule iptables prints
	// differently than weir renders it). Default: discard.
	Log hclog.Logger
}

// Writer applies desired States to the dataplane of the calling thread's
// network namespace. It is safe for concurrent use; calls are serialised
// within the process and, through the host-wide lock, with every other
// weir process.
type Writer struct {
	cfg Config
	log hclog.Logger
	sem chan struct{} // one call at a time; guards the fields below

	runner  Runner
	backend Backend
	memo    *canonMemo           // canonical chains and sets of the last call
	recent  recentCache          // the cache file last read or written
	rules   map[ruleKey]ruleInfo // canonical rules seen lately
	aliases map[string]string    // family+canonical rule -> how iptables-save printed it
	tables  map[Table]bool       // the tables this Writer owns
}

// New returns a Writer. Nothing is run until the first call.
func New(cfg Config) *Writer {
	if cfg.LockPath == "" {
		cfg.LockPath = DefaultLockPath
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = DefaultCacheDir
	}
	log := cfg.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if len(cfg.Tables) == 0 {
		cfg.Tables = []Table{Filter}
	}
	tables := map[Table]bool{}
	for _, t := range cfg.Tables {
		tables[t] = true
	}
	return &Writer{cfg: cfg, log: log, sem: make(chan struct{}, 1), aliases: map[string]string{}, memo: newCanonMemo(), tables: tables}
}

// Backend returns the backend the Writer uses, detecting it if needed.
func (w *Writer) Backend(ctx context.Context) (Backend, error) {
	if err := w.acquire(ctx); err != nil {
		return "", err
	}
	defer w.release()
	var st Stats
	err := w.setup(ctx, &st)
	return w.backend, err
}

// Read returns weir's objects as the kernel holds them: WEIR- chains with
// their rules and hooks in built-in chains (iptables-save, both families,
// all tables) and weir- sets (ipset save). Rules are as iptables-save
// prints them; compare with State.Canonical of what was applied.
func (w *Writer) Read(ctx context.Context) (State, error) {
	if err := w.acquire(ctx); err != nil {
		return State{}, err
	}
	defer w.release()
	var st Stats
	if err := w.setup(ctx, &st); err != nil {
		return State{}, err
	}
	lock, err := lockHost(ctx, w.cfg.LockPath, unix.LOCK_SH)
	if err != nil {
		return State{}, fmt.Errorf("reading dataplane: %w", err)
	}
	defer lock.unlock()
	obs, _, err := readBack(ctx, w.runner, []Family{IPv4, IPv6}, true, w.tables)
	if err != nil {
		return State{}, fmt.Errorf("reading dataplane: %w", err)
	}
	return obs.State, nil
}

// Apply makes weir's part of the dataplane equal desired, writing only the
// difference from what it last applied in this namespace (the cache file),
// or from a read-back when there is no trustworthy cache: one ipset
// restore that creates sets and adds members, one iptables-restore
// --noflush per family that creates new chains, rewrites changed chains
// whole (or, for chains of editMin rules or more, inserts or deletes just
// the rules that differ), inserts missing hooks at the top of their
// built-in chain and removes chains no longer wanted (their jumps first),
// and one ipset restore that deletes members and destroys sets. When only
// set members change, one ipset restore is all that runs. If the write fails because the kernel drifted from
// the cache, Apply reads back and tries once more. An empty desired State
// removes all of weir's objects and nothing else.
func (w *Writer) Apply(ctx context.Context, desired State) (Stats, error) {
	st, err := w.run(ctx, desired, false)
	if err != nil {
		return st, fmt.Errorf("applying dataplane: %w", err)
	}
	return st, nil
}

// Repair is Apply that ignores the cache: it reads everything of weir's
// back, writes whatever drifted (a chain flushed by hand, a hook deleted or
// pushed down, a set member removed) and refreshes the cache. When it
// rewrote rules it reads them back once more, and remembers the printed
// form of any rule that iptables-save prints differently than weir
// rendered it (Stats.Relearned), so the next Repair leaves it alone.
func (w *Writer) Repair(ctx context.Context, desired State) (Stats, error) {
	st, err := w.run(ctx, desired, true)
	if err != nil {
		return st, fmt.Errorf("repairing dataplane: %w", err)
	}
	return st, nil
}

func (w *Writer) acquire(ctx context.Context) error {
	select {
	case w.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the dataplane writer: %w", ctx.Err())
	}
}

func (w *Writer) release() { <-w.sem }

// setup picks the backend and runner once per Writer.
func (w *Writer) setup(ctx context.Context, st *Stats) error {
	if w.runner != nil {
		return nil
	}
	if w.cfg.Runner != nil {
		w.runner, w.backend = w.cfg.Runner, w.cfg.Backend
		return nil
	}
	b := w.cfg.Backend
	if b == "" {
		var forks int
		var err error
		b, forks, err = detectBackend(ctx)
		st.Forks += forks
		if err != nil {
			return err
		}
	}
	r, err := NewExecRunner(b)
	if err != nil {
		return err
	}
	w.runner, w.backend = r, b
	return nil
}

// begin starts a call that writes: the Writer's semaphore, its runner, the
// host-wide lock, and the namespace the calling thread is in. end undoes
// the first three.
func (w *Writer) begin(ctx context.Context, st *Stats) (id netnsID, end func(), err error) {
	if err := w.acquire(ctx); err != nil {
		return id, nil, err
	}
	if err := w.setup(ctx, st); err != nil {
		w.release()
		return id, nil, err
	}
	lock, err := lockHost(ctx, w.cfg.LockPath, unix.LOCK_EX)
	if err != nil {
		w.release()
		return id, nil, err
	}
	end = func() { lock.unlock(); w.release() }
	if id, err = currentNetNS(); err != nil {
		end()
		return id, nil, err
	}
	return id, end, nil
}

func (w *Writer) run(ctx context.Context, desired State, repair bool) (st Stats, err error) {
	start := time.Now()
	defer func() { st.Duration = time.Since(start) }()
	id, end, err := w.begin(ctx, &st)
	if err != nil {
		return st, err
	}
	defer end()
	path := ""
	if !w.cfg.NoCache && id.cookie != 0 {
		path = cachePathFor(w.cfg.CacheDir, id.ino)
	}
	meta := cacheFile{Backend: w.backend, Cookie: id.cookie}
	var cur current
	seeded := false
	if path != "" {
		if c := w.recent.load(path); c != nil {
			meta.Generation = c.Generation
			for k, v := range c.Aliases {
				if w.aliases[k] != v {
					w.aliases[k] = v
					w.memo.reset() // canonical texts change
				}
			}
			if !repair {
				cur, st.FromCache = c.current(id, w.backend)
				if st.FromCache && w.memo.chains == nil && len(c.Raw) > 0 {
					seeded = true
					w.memo.seed = make(map[string]seedChain, len(c.Raw))
					for k, r := range c.Raw {
						w.memo.seed[k] = seedChain{raw: r, digest: c.Chains[k], rules: c.Rules[k], sums: c.Sums[k]}
					}
				}
			}
		}
	}

	want, digests, err := w.canonical(desired)
	w.memo.seed = nil
	if err != nil {
		return st, fmt.Errorf("checking desired state: %w", err)
	}
	if !st.FromCache {
		if cur, err = w.readCurrent(ctx, &st); err != nil {
			return st, err
		}
	}
	p := diff(cur, want, digests)
	if seeded && len(p.replace) > 0 {
		// A set changes type: every chain matching it is rewritten, which
		// needs the rules of chains taken from the cache too.
		w.memo.reset()
		if want, digests, err = w.canonical(desired); err != nil {
			return st, err
		}
		p = diff(cur, want, digests)
	}
	if path != "" && !p.empty() {
		// Write-ahead: the cache says "unknown" while the kernel is being
		// changed, so a process killed mid-write (a crashed attach) leaves
		// no cache that misses what it wrote; the next call reads back.
		if err := w.recent.store(path, meta, current{}, false); err != nil {
			return st, err
		}
	}
	err = w.execute(ctx, p, &st)
	if err != nil && st.FromCache {
		w.log.Warn("dataplane differs from the cache; reading it back", "error", err)
		st.Fallback = true
		if seeded {
			// Chains taken from the cache may lack their rules: render
			// them all before diffing against the kernel.
			w.memo.reset()
			if want, digests, err = w.canonical(desired); err != nil {
				return st, err
			}
		}
		if cur, err2 := w.readCurrent(ctx, &st); err2 != nil {
			err = errors.Join(err, err2)
		} else {
			p = diff(cur, want, digests)
			err = w.execute(ctx, p, &st)
		}
	}
	if err != nil {
		if path != "" {
			meta.Generation++
			_ = w.recent.store(path, meta, current{}, false)
		}
		return st, err
	}
	if repair && w.needsVerify(p) {
		learned, err := w.verify(ctx, p, desired, want, &st)
		if err != nil {
			return st, err
		}
		if learned {
			w.memo.reset()
			if want, digests, err = w.canonical(desired); err != nil {
				return st, err
			}
		}
	}
	if !p.empty() {
		meta.Generation++
	}
	st.Generation = meta.Generation
	if path != "" && (!p.empty() || !st.FromCache) {
		meta.Aliases = w.aliases
		meta.Raw, meta.Sums = w.memo.raws()
		if err := w.recent.store(path, meta, current{Sets: want.Sets, Chains: digests, Rules: bigRules(want), Hooks: want.Hooks}, true); err != nil {
			return st, err
		}
	}
	return st, nil
}

// readCurrent reads everything of weir's back.
func (w *Writer) readCurrent(ctx context.Context, st *Stats) (current, error) {
	obs, n, err := readBack(ctx, w.runner, []Family{IPv4, IPv6}, true, w.tables)
	st.Reads += n
	st.Forks += n
	if err != nil {
		return current{}, err
	}
	return summarise(obs.State, obs.misplaced), nil
}

// needsVerify reports whether a plan writes a rule whose printed form is
// not known for sure (see exactOpts): only then does Repair read back what
// it wrote.
func (w *Writer) needsVerify(p *plan) bool {
	inexact := func(key string) bool {
		for _, info := range w.memo.chains[key].infos {
			if !info.exact {
				return true
			}
		}
		return false
	}
	for ft, tp := range p.tables {
		for _, c := range tp.write {
			if inexact(ChainKey(ft.table, ft.fam, c.Name)) {
				return true
			}
		}
		for _, e := range tp.edit {
			if inexact(ChainKey(ft.table, ft.fam, e.name)) {
				return true
			}
		}
		for _, in := range tp.hookIns {
			if info, err := analyseRule(ft.fam, in.hook.Rule); err != nil || !info.exact {
				return true
			}
		}
	}
	return false
}
