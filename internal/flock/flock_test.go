package flock

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestAcquireExcludesAndHonoursContext(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "x.lock")
	l, err := Acquire(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Acquire(ctx, p); err == nil {
		t.Fatal("a second holder got the lock")
	}
	l.Release()
	l2, err := Acquire(context.Background(), p)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l2.Release()
}

func TestRemovedLockIsRelocked(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	l, err := Acquire(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	var inside int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := Acquire(context.Background(), p)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			inside++
			if inside > 1 {
				t.Error("two holders at once after the file was removed")
			}
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
			mu.Lock()
			inside--
			mu.Unlock()
			w.ReleaseAndRemove()
		}()
	}
	time.Sleep(20 * time.Millisecond)
	l.ReleaseAndRemove()
	wg.Wait()
}

func TestSharedHoldersExcludeAnExclusiveOne(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	s1, err := AcquireShared(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := AcquireShared(context.Background(), p)
	if err != nil {
		t.Fatalf("a second shared holder was refused: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Acquire(ctx, p); err == nil {
		t.Fatal("an exclusive holder got the lock beside shared ones")
	}
	s1.Release()
	s2.Release()
	x, err := Acquire(context.Background(), p)
	if err != nil {
		t.Fatalf("exclusive lock after the shared ones left: %v", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := AcquireShared(ctx2, p); err == nil {
		t.Fatal("a shared holder got the lock beside an exclusive one")
	}
	x.Release()
}

// TestRemovingHoldersNeverOverlap: many goroutines lock, each removing the
// file when it is done, as the last holder of a container's lock does;
// however the unlink races with the others' open and flock, two never hold
// the lock at once.
func TestRemovingHoldersNeverOverlap(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	var inside, max int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				l, err := Acquire(context.Background(), p)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				inside++
				if inside > max {
					max = inside
				}
				mu.Unlock()
				time.Sleep(100 * time.Microsecond)
				mu.Lock()
				inside--
				mu.Unlock()
				if j%2 == 0 {
					l.ReleaseAndRemove()
				} else {
					l.Release()
				}
			}
		}()
	}
	wg.Wait()
	if max != 1 {
		t.Errorf("%d holders at once", max)
	}
}
