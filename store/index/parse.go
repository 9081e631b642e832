package index

import (
	"bufio"

	"github.com/mailbag/mailbag/store/message"
)

// parser reads message headers for one worker, reusing its buffer.
type parser struct {
	br *bufio.Reader
	fr fileReader
}

func newParser() *parser {
	p := &parser{}
	// ReadSummary keeps a *bufio.Reader of at least its buffer size as is,
	// so this one buffer serves every file of the worker.
	p.br = bufio.NewReaderSize(&p.fr, 4096)
	return p
}

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
	p.br.Reset(&p.fr)
	s, _ := message.ReadSummary(p.br)
	fill(e, s)
	return nil
}
