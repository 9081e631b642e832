package index

import (
	"io"

	"github.com/mailbag/mailbag/store/message"
)

// parser reads message headers for one worker, reusing its buffers from
// one file to the next.
type parser struct {
	sr message.SummaryReader
	fr fileReader
}

func newParser() *parser { return &parser{} }

// summarize fills e's size and header fields from its file in the folder.
// A read error after opening keeps what was parsed; an error opening
// (typically fs.ErrNotExist) is returned.
func (p *parser) summarize(d *folderDirs, e *Envelope) error {
	size, err := p.fr.open(d, e.Name)
	if err != nil {
		return err
	}
	defer p.fr.close()
	e.Size = size
	fill(e, p.read(&p.fr))
	return nil
}

// read parses the header of one message from r; a read error keeps what
// was parsed before it.
func (p *parser) read(r io.Reader) message.Summary {
	s, _ := p.sr.ReadSummary(r)
	return s
}
