package real

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/emersion/go-smtp"
)

// deliverTimeout bounds a delivery when ctx has no deadline of its own.
const deliverTimeout = 30 * time.Second

// Sender is the envelope sender (MAIL FROM) of messages injected over LMTP.
const Sender = "mailtest@example.test"

// Deliver puts msg into the INBOX of user (a name such as "alice" or a full
// address) through dovecot's LMTP service (RFC 2033): LHLO, MAIL, RCPT, DATA,
// and the per-recipient reply after the final dot. Bare LF line ends are sent
// as CRLF and lines starting with '.' are dot-stuffed (RFC 5321 §4.5.2).
// A refused recipient or message comes back as *smtp.SMTPError (reachable with
// errors.As).
func (s *Servers) Deliver(ctx context.Context, user string, msg []byte) error {
	return s.DeliverMany(ctx, user, [][]byte{msg})
}

// DeliverMany delivers every message of msgs, in order, to user over one LMTP
// session, one transaction per message. Without a deadline on ctx it allows
// deliverTimeout per hundred messages. A message takes about 3 ms (2,000 in
// 5.5 s here; the instance runs with mail_fsync = never).
func (s *Servers) DeliverMany(ctx context.Context, user string, msgs [][]byte) error {
	addr := s.Addr(s.LMTP)
	rcpt := s.Address(user)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, deliverTimeout*time.Duration(1+len(msgs)/100))
		defer cancel()
	}
	deadline, _ := ctx.Deadline()

	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("lmtp %s: %w", addr, err)
	}
	// go-smtp sets and clears its own per-command deadlines, so cancellation
	// closes the connection instead.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return fmt.Errorf("lmtp %s: %w", addr, err)
	}

	c := smtp.NewClientLMTP(conn)
	remaining := time.Until(deadline)
	c.CommandTimeout = remaining
	c.SubmissionTimeout = remaining
	wrap := func(step string, err error) error {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("lmtp %s: %s: %w (%v)", addr, step, ctxErr, err)
		}
		return fmt.Errorf("lmtp %s: %s: %w", addr, step, err)
	}
	if err := c.Hello("localhost"); err != nil {
		return wrap("LHLO", err)
	}
	for i, msg := range msgs {
		if err := c.Mail(Sender, nil); err != nil {
			return wrap(fmt.Sprintf("message %d: MAIL", i), err)
		}
		if err := c.Rcpt(rcpt, nil); err != nil {
			return wrap(fmt.Sprintf("message %d: RCPT <%s>", i, rcpt), err)
		}
		w, err := c.Data()
		if err != nil {
			return wrap(fmt.Sprintf("message %d: DATA", i), err)
		}
		// DATA's writer runs without go-smtp's deadlines: restore ours.
		if err := conn.SetDeadline(deadline); err != nil {
			return wrap(fmt.Sprintf("message %d: DATA", i), err)
		}
		if _, err := w.Write(msg); err != nil {
			return wrap(fmt.Sprintf("message %d: DATA", i), err)
		}
		if err := w.Close(); err != nil {
			return wrap(fmt.Sprintf("message %d: delivery to <%s>", i, rcpt), err)
		}
	}
	if err := c.Quit(); err != nil {
		return wrap("QUIT", err)
	}
	return nil
}
