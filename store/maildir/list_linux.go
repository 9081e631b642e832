package maildir

import (
	"encoding/binary"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// appendEntries appends the entries of dir (the folder's sub directory
// "new" or "cur") to out. It reads the directory with getdents(2) into a
// large buffer and backs every name with one string, so listing 100,000
// messages costs a handful of allocations and no stat.
func appendEntries(out []Entry, dir, sub string) ([]Entry, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return out, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 128<<10)
	var arena []byte // "sub/name" back to back
	var ends []int   // end offset of each name in arena
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return out, &os.PathError{Op: "getdents", Path: dir, Err: err}
		}
		if n <= 0 {
			break
		}
		for off := 0; off+19 <= n; {
			reclen := int(binary.NativeEndian.Uint16(buf[off+16:]))
			if reclen < 19 || off+reclen > n {
				break
			}
			rec := buf[off : off+reclen]
			off += reclen
			ino := binary.NativeEndian.Uint64(rec[0:])
			typ := rec[18]
			name := rec[19:]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			if ino == 0 || len(name) == 0 || name[0] == '.' || typ == unix.DT_DIR {
				continue
			}
			arena = append(arena, sub...)
			arena = append(arena, '/')
			arena = append(arena, name...)
			ends = append(ends, len(arena))
		}
	}
	if len(ends) == 0 {
		return out, nil
	}
	// arena is never written again: it backs every name.
	all := unsafe.String(unsafe.SliceData(arena), len(arena))
	out = growEntries(out, len(ends))
	start := 0
	for _, end := range ends {
		if e, ok := entryFromName(all[start:end]); ok {
			out = append(out, e)
		}
		start = end
	}
	return out, nil
}
