//go:build !linux

package maildir

import "os"

// appendEntries appends the entries of dir (the folder's sub directory
// "new" or "cur") to out, without a stat per file.
func appendEntries(out []Entry, dir, sub string) ([]Entry, error) {
	d, err := os.Open(dir)
	if err != nil {
		return out, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return out, err
	}
	out = growEntries(out, len(names))
	for _, n := range names {
		if e, ok := parseEntry(sub, n); ok {
			out = append(out, e)
		}
	}
	return out, nil
}
