package pop3

import (
	"errors"
	"fmt"
	"io"
)

// pipelineWindow is how many commands RetrMany and DeleMany keep outstanding
// when the server announces PIPELINING (RFC 2449 §6.6). Commands are short,
// so the window never fills the socket buffers in either direction and the
// client cannot deadlock against a server that stops reading while it
// writes.
const pipelineWindow = 64

// Stat returns the number of messages and their total size in octets, the
// "drop listing" of STAT, RFC 1939 §5. A positive answer without the two
// numbers is an error wrapping ErrMalformed.
func (c *Client) Stat() (count int, size int64, err error) {
	text, err := c.cmd("STAT")
	if err == nil {
		count, size, err = parseStat(text)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("pop3 %s: stat: %w", c.addr, err)
	}
	return count, size, nil
}

// List returns the scan listing of every message not marked as deleted,
// LIST, RFC 1939 §5 (UID is empty).
func (c *Client) List() ([]MsgInfo, error) {
	if _, err := c.cmd("LIST"); err != nil {
		return nil, fmt.Errorf("pop3 %s: list: %w", c.addr, err)
	}
	list, err := c.readList()
	if err != nil {
		return nil, fmt.Errorf("pop3 %s: list: %w", c.addr, err)
	}
	return list, nil
}

// UIDL returns the unique-id listing, UIDL, RFC 1939 §7 (Size is zero).
// A unique-id that fails ValidUID, a duplicated message-number or a
// duplicated unique-id makes the whole answer an error: such ids are never
// used.
func (c *Client) UIDL() ([]MsgInfo, error) {
	if _, err := c.cmd("UIDL"); err != nil {
		return nil, fmt.Errorf("pop3 %s: uidl: %w", c.addr, err)
	}
	list, err := c.readUIDL()
	if err != nil {
		return nil, fmt.Errorf("pop3 %s: uidl: %w", c.addr, err)
	}
	return list, nil
}

// ListAll returns, for every message, its number, size and unique-id: LIST
// and UIDL, sent together when the server supports PIPELINING (RFC 2449
// §6.6). Every listed message must have a unique-id and vice versa.
func (c *Client) ListAll() ([]MsgInfo, error) {
	list, err := c.listAll()
	if err != nil {
		return nil, fmt.Errorf("pop3 %s: list: %w", c.addr, err)
	}
	return list, nil
}

func (c *Client) listAll() ([]MsgInfo, error) {
	if err := c.ready(); err != nil {
		return nil, err
	}
	var list, uids []MsgInfo
	var listErr, uidErr error
	if c.pipelining() {
		if err := c.write("LIST"); err != nil {
			return nil, err
		}
		if err := c.write("UIDL"); err != nil {
			return nil, err
		}
		if err := c.flush(); err != nil {
			return nil, err
		}
		if _, listErr = c.readStatus("LIST"); listErr == nil {
			list, listErr = c.readList()
		}
		if c.err != nil {
			return nil, listErr
		}
		if _, uidErr = c.readStatus("UIDL"); uidErr == nil {
			uids, uidErr = c.readUIDL()
		}
	} else {
		if _, listErr = c.cmd("LIST"); listErr == nil {
			list, listErr = c.readList()
		}
		if listErr != nil {
			return nil, listErr
		}
		if _, uidErr = c.cmd("UIDL"); uidErr == nil {
			uids, uidErr = c.readUIDL()
		}
	}
	if listErr != nil {
		return nil, listErr
	}
	if uidErr != nil {
		return nil, fmt.Errorf("uidl: %w", uidErr)
	}
	if len(uids) != len(list) {
		return nil, fmt.Errorf("%w: LIST has %d messages, UIDL %d", ErrMalformed, len(list), len(uids))
	}
	byID := make(map[int]string, len(uids))
	for _, u := range uids {
		byID[u.ID] = u.UID
	}
	for i := range list {
		uid, ok := byID[list[i].ID]
		if !ok {
			return nil, fmt.Errorf("%w: message %d is in LIST but not in UIDL", ErrMalformed, list[i].ID)
		}
		list[i].UID = uid
	}
	return list, nil
}

func (c *Client) readList() ([]MsgInfo, error) {
	var list []MsgInfo
	seen := map[int]bool{}
	err := c.readMulti(func(line string) error {
		m, err := parseListLine(line)
		if err != nil {
			return err
		}
		if seen[m.ID] {
			return malformed("LIST repeats a message-number", line)
		}
		seen[m.ID] = true
		list = append(list, m)
		return nil
	})
	return list, err
}

func (c *Client) readUIDL() ([]MsgInfo, error) {
	var list []MsgInfo
	seenID := map[int]bool{}
	seenUID := map[string]bool{}
	err := c.readMulti(func(line string) error {
		m, err := parseUIDLLine(line)
		if err != nil {
			return err
		}
		if seenID[m.ID] {
			return malformed("UIDL repeats a message-number", line)
		}
		if seenUID[m.UID] {
			return malformed("UIDL repeats a unique-id", line)
		}
		seenID[m.ID], seenUID[m.UID] = true, true
		list = append(list, m)
		return nil
	})
	return list, err
}

// Retr copies message n to w, RETR, RFC 1939 §5, and returns the number of
// bytes written. The message is streamed, never held in memory; byte-stuffing
// is undone and CRLF line endings become LF (net/textproto DotReader
// semantics, see dotReader); lines of any length come through intact.
//
// If w fails, the rest of the message is read and discarded so the session
// stays usable, and w's error is returned.
func (c *Client) Retr(n int, w io.Writer) (int64, error) {
	written, err := c.retr(n, w)
	if err != nil {
		return written, fmt.Errorf("pop3 %s: retr %d: %w", c.addr, n, err)
	}
	return written, nil
}

func (c *Client) retr(n int, w io.Writer) (int64, error) {
	if n < 1 {
		return 0, fmt.Errorf("invalid message-number %d", n)
	}
	if _, err := c.cmd("RETR", itoa(n)); err != nil {
		return 0, err
	}
	return c.copyBody(w)
}

// Top copies the header of message n and the first lines lines of its body
// to w, TOP, RFC 1939 §7, with the conversions of Retr.
func (c *Client) Top(n, lines int, w io.Writer) error {
	if err := c.top(n, lines, w); err != nil {
		return fmt.Errorf("pop3 %s: top %d: %w", c.addr, n, err)
	}
	return nil
}

func (c *Client) top(n, lines int, w io.Writer) error {
	if n < 1 || lines < 0 {
		return fmt.Errorf("invalid arguments %d %d", n, lines)
	}
	if _, err := c.cmd("TOP", itoa(n), itoa(lines)); err != nil {
		return err
	}
	_, err := c.copyBody(w)
	return err
}

// copyBody streams the multi-line body after a positive status line to w.
func (c *Client) copyBody(w io.Writer) (int64, error) {
	body := c.body()
	written, err := io.CopyBuffer(w, onlyReader{body}, c.buf)
	if body.err != nil {
		return written, c.fail(body.err)
	}
	if err != nil {
		// w failed: keep the session in step.
		if derr := body.drain(c.buf); derr != nil {
			return written, c.fail(derr)
		}
		return written, err
	}
	return written, nil
}

// body returns a reader for the multi-line answer that follows a positive
// status line.
func (c *Client) body() *bodyReader {
	return &bodyReader{r: &dotReader{br: c.br}}
}

// bodyReader records the read error of a message body (as opposed to an
// error of the writer it is copied to). io.EOF is the clean end.
type bodyReader struct {
	r   io.Reader
	err error
	eof bool
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.eof {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.eof = true
	} else if err != nil {
		b.err = err
	}
	return n, err
}

// drain reads the rest of the body and returns a read error, if any.
func (b *bodyReader) drain(buf []byte) error {
	for {
		_, err := b.Read(buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// onlyReader hides a WriterTo so io.CopyBuffer uses the given buffer.
type onlyReader struct{ io.Reader }

// Dele marks message n as deleted, DELE, RFC 1939 §5. It is removed when the
// session ends with Quit; Close or Rset keep it.
func (c *Client) Dele(n int) error {
	if n < 1 {
		return fmt.Errorf("pop3 %s: dele %d: invalid message-number", c.addr, n)
	}
	if _, err := c.cmd("DELE", itoa(n)); err != nil {
		return fmt.Errorf("pop3 %s: dele %d: %w", c.addr, n, err)
	}
	return nil
}

// RetrMany retrieves the messages ids in order and hands each body, as a
// stream with Retr's conversions, to each. When the server announces
// PIPELINING (RFC 2449 §6.6) up to 64 RETR commands are outstanding at once;
// otherwise they go one at a time. The reader is valid only during the call
// to each; whatever each leaves unread is discarded.
//
// The first failure stops the batch: a -ERR for a message (an *Error), an
// error from each, or a network error. Commands already sent are read to
// their end so the session stays usable after the first two kinds.
func (c *Client) RetrMany(ids []int, each func(n int, r io.Reader) error) error {
	failed, err := c.pipeline("RETR", ids, func(n int, skip bool) error {
		body := c.body()
		var cbErr error
		if each != nil && !skip {
			cbErr = each(n, onlyReader{body})
		}
		if body.err != nil {
			return c.fail(body.err)
		}
		if err := body.drain(c.buf); err != nil {
			return c.fail(err)
		}
		return cbErr
	}, true)
	if err != nil {
		return fmt.Errorf("pop3 %s: retr %d: %w", c.addr, failed, err)
	}
	return nil
}

// DeleMany marks the messages ids as deleted, DELE, RFC 1939 §5, pipelined
// when the server supports it (RFC 2449 §6.6). Every id is tried; the first
// failure is returned.
func (c *Client) DeleMany(ids []int) error {
	failed, err := c.pipeline("DELE", ids, nil, false)
	if err != nil {
		return fmt.Errorf("pop3 %s: dele %d: %w", c.addr, failed, err)
	}
	return nil
}

// pipeline sends verb for each id within the pipelining window and reads the
// answers in order. For a positive answer it calls then (which must consume
// any multi-line body). With stopOnErr the first failure stops sending new
// commands; outstanding answers are still read, with skip set. It returns the id that
// failed first and its error.
func (c *Client) pipeline(verb string, ids []int, then func(n int, skip bool) error, stopOnErr bool) (int, error) {
	if err := c.ready(); err != nil {
		if len(ids) > 0 {
			return ids[0], err
		}
		return 0, err
	}
	for _, n := range ids {
		if n < 1 {
			return n, errors.New("invalid message-number")
		}
	}
	window := 1
	if c.pipelining() {
		window = pipelineWindow
	}
	var (
		firstID  int
		firstErr error
		sent     int
		stop     bool
	)
	for i := 0; i < len(ids); i++ {
		if !stop && sent < len(ids) && sent-i <= window/2 {
			for sent < len(ids) && sent-i < window {
				if err := c.write(verb, itoa(ids[sent])); err != nil {
					return ids[sent], err
				}
				sent++
			}
			if err := c.flush(); err != nil {
				return ids[i], err
			}
		}
		if i >= sent {
			break
		}
		_, err := c.readStatus(verb)
		if err == nil && then != nil {
			err = then(ids[i], stop)
		}
		if c.err != nil {
			return ids[i], err
		}
		if err != nil && firstErr == nil {
			firstID, firstErr = ids[i], err
			stop = stopOnErr
		}
	}
	return firstID, firstErr
}
