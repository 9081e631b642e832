package account

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// MaxSendSize bounds a message given to Send, SendDraft or Postpone
// (bytes, headers and attachments included): 50 MiB, above what
// submission servers accept anyway.
const MaxSendSize = 50 << 20

// ErrTooLarge is wrapped when a message exceeds MaxSendSize.
var ErrTooLarge = fmt.Errorf("message larger than %d bytes", MaxSendSize)

// ErrNoRecipients is wrapped when a message has no address in To, Cc or
// Bcc.
var ErrNoRecipients = errors.New("no recipients in To, Cc or Bcc")

// readMessage reads at most MaxSendSize bytes of r.
func readMessage(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSendSize+1))
	if err != nil {
		return nil, fmt.Errorf("read message: %w", err)
	}
	if len(data) > MaxSendSize {
		return nil, ErrTooLarge
	}
	return data, nil
}

// splitMessage parses the header of an RFC 5322 message (RFC 5322 §2.1:
// header fields, an empty line, the body) and returns it with the body
// bytes as they were. A message with no empty line is all header.
func splitMessage(data []byte) (textproto.Header, []byte, error) {
	r := bytes.NewReader(data)
	br := bufio.NewReader(r)
	h, err := textproto.ReadHeader(br)
	if err != nil && !errors.Is(err, io.EOF) {
		return h, nil, fmt.Errorf("message header: %w", err)
	}
	consumed := len(data) - r.Len() - br.Buffered()
	return h, data[consumed:], nil
}

// outgoing is a stored message made ready for the wire.
type outgoing struct {
	from      string   // reverse path (RFC 5321 §4.1.1.2)
	rcpts     []string // To, Cc and Bcc, deduplicated ignoring case
	wire      []byte   // what is transmitted and filed in Sent: no Bcc
	changed   bool     // wire differs from the stored bytes
	messageID string
	eightBit  bool
}

// addressesOf parses every field named key (a message may repeat To).
func addressesOf(h *textproto.Header, key string) ([]*gomail.Address, error) {
	var out []*gomail.Address
	fields := h.FieldsByKey(key)
	for fields.Next() {
		v := strings.TrimSpace(fields.Value())
		if v == "" {
			continue
		}
		list, err := gomail.ParseAddressList(v)
		if err != nil {
			// A group with no members ("undisclosed-recipients:;") is
			// valid and names nobody.
			if strings.HasSuffix(v, ":;") && !strings.Contains(v, "@") {
				continue
			}
			return nil, fmt.Errorf("%s: %q: %w", key, clip(v, 200), err)
		}
		out = append(out, list...)
	}
	return out, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// completeHeader adds what a message given to `mailbag send` may lack
// (RFC 5322 §3.6: Date and From are required, Message-ID should be
// there): From is the account's address, Date is now, Message-ID is
// random on the From domain. It reports whether anything was added.
func completeHeader(h *textproto.Header, address string, now time.Time) (bool, error) {
	mh := gomail.Header{Header: message.Header{Header: *h}}
	changed := false
	if !h.Has("From") {
		if strings.TrimSpace(address) == "" {
			return false, errors.New("the message has no From and the account no address")
		}
		a, err := gomail.ParseAddress(address)
		if err != nil {
			return false, fmt.Errorf("account address %q: %w", address, err)
		}
		mh.SetAddressList("From", []*gomail.Address{a})
		changed = true
	}
	if !h.Has("Date") {
		mh.SetDate(now)
		changed = true
	}
	if !h.Has("Message-Id") {
		from, _ := addressesOf(&mh.Header.Header, "From")
		addr := ""
		if len(from) > 0 {
			addr = from[0].Address
		}
		mh.SetMessageID(draftMessageID(now, "", addr))
		changed = true
	}
	*h = mh.Header.Header
	return changed, nil
}

// prepareOutgoing reads the envelope from a stored message (RFC 5321
// §3.3; RFC 5322 §3.6.3: To, Cc and Bcc are the recipients) and builds
// the bytes to transmit: the same message without its Bcc field, with
// From, Date and Message-ID added when missing (a draft filed by another
// program may lack them). The reverse path is the Sender, else the first
// From address.
func prepareOutgoing(data []byte, address string, now time.Time) (*outgoing, error) {
	h, body, err := splitMessage(data)
	if err != nil {
		return nil, err
	}
	added, err := completeHeader(&h, address, now)
	if err != nil {
		return nil, err
	}
	o := &outgoing{changed: added}
	seen := map[string]bool{}
	for _, key := range []string{"To", "Cc", "Bcc"} {
		list, err := addressesOf(&h, key)
		if err != nil {
			return nil, err
		}
		for _, a := range list {
			if k := strings.ToLower(a.Address); a.Address != "" && !seen[k] {
				seen[k] = true
				o.rcpts = append(o.rcpts, a.Address)
			}
		}
	}
	if len(o.rcpts) == 0 {
		return nil, ErrNoRecipients
	}
	for _, key := range []string{"Sender", "From"} {
		list, err := addressesOf(&h, key)
		if err != nil {
			return nil, err
		}
		if len(list) > 0 {
			o.from = list[0].Address
			break
		}
	}
	if o.from == "" {
		return nil, errors.New("no address in From")
	}
	if h.Has("Bcc") {
		h.Del("Bcc")
		o.changed = true
	}
	mh := gomail.Header{Header: message.Header{Header: h}}
	o.messageID, _ = mh.MessageID()
	if o.changed {
		var b bytes.Buffer
		b.Grow(len(data))
		if err := textproto.WriteHeader(&b, h); err != nil {
			return nil, fmt.Errorf("message header: %w", err)
		}
		b.Write(body)
		o.wire = b.Bytes()
	} else {
		o.wire = data
	}
	for _, c := range o.wire {
		if c >= 0x80 {
			o.eightBit = true
			break
		}
	}
	return o, nil
}
