// Package netns creates, pins and removes network namespaces as files: a
// namespace bind-mounted on a file outlives the processes in it (weir run's
// throwaway namespace, the isolator's <state>/containers/<id>/ns), and
// removing the file's mount lets the kernel free it.
package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// Create makes a new, empty network namespace and pins it at path (whose
// directory is created). The calling goroutine's namespace is not changed.
func Create(path string) error {
	if err := prepareMountPoint(path); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: it has been in another namespace,
		// so the runtime throws it away when this goroutine ends.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("creating network namespace: %w", err)
			return
		}
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		errc <- bind(self, path)
	}()
	if err := <-errc; err != nil {
		_ = os.Remove(path)
		return err
	}
	return nil
}

// Pin bind-mounts an existing namespace (e.g. /proc/<pid>/ns/net) at path,
// so it survives its processes. Pinning the same namespace again is a no-op.
func Pin(source, path string) error {
	if same, _ := sameNS(source, path); same {
		return nil
	}
	if err := prepareMountPoint(path); err != nil {
		return err
	}
	if err := bind(source, path); err != nil {
		_ = os.Remove(path)
		return err
	}
	return nil
}

// Remove unmounts and deletes a pinned namespace file. A missing file, or
// one that is not mounted, is not an error.
func Remove(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmounting netns %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing netns file %s: %w", path, err)
	}
	return nil
}

func prepareMountPoint(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating directory for netns %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("creating netns mount point %s: %w", path, err)
	}
	return f.Close()
}

func bind(source, path string) error {
	if err := unix.Mount(source, path, "none", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("pinning netns %s at %s: %w", source, path, err)
	}
	return nil
}

// sameNS reports whether two paths refer to the same namespace.
func sameNS(a, b string) (bool, error) {
	var sa, sb unix.Stat_t
	if err := unix.Stat(a, &sa); err != nil {
		return false, err
	}
	if err := unix.Stat(b, &sb); err != nil {
		return false, err
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino, nil
}
