package auth

import "testing"

func TestCramMD5(t *testing.T) {
	// RFC 2195 §2 example.
	c := CramMD5("tim", "tanstaaftanstaaf")
	if mech, ir, err := c.Start(); mech != "CRAM-MD5" || ir != nil || err != nil {
		t.Fatalf("Start() = %q, %q, %v", mech, ir, err)
	}
	resp, err := c.Next([]byte("<1896.697170952@postoffice.reston.mci.net>"))
	if err != nil || string(resp) != "tim b913a602c7eda7a495b4e6e7334d3890" {
		t.Fatalf("CRAM-MD5 response = %q, %v", resp, err)
	}
	if _, err := c.Next([]byte("again")); err == nil {
		t.Fatalf("CRAM-MD5 answered a second challenge")
	}
	if _, err := CramMD5("tim", "x").Next(nil); err == nil {
		t.Fatalf("CRAM-MD5 answered an empty challenge")
	}
}

func TestXOAuth2(t *testing.T) {
	c := XOAuth2("a@example.test", "tok")
	mech, ir, _ := c.Start()
	if mech != "XOAUTH2" || string(ir) != "user=a@example.test\x01auth=Bearer tok\x01\x01" {
		t.Fatalf("XOAUTH2 Start() = %q, %q", mech, ir)
	}
	if resp, err := c.Next([]byte(`{"status":"401"}`)); err != nil || len(resp) != 0 {
		t.Fatalf("XOAUTH2 answer to an error challenge = %q, %v, want empty", resp, err)
	}
}

func TestLogin(t *testing.T) {
	tests := []struct{ challenges, want []string }{
		{[]string{"Username:", "Password:"}, []string{"u", "p"}},
		{[]string{"username:", "password:"}, []string{"u", "p"}},
		{[]string{"User Name", "Password"}, []string{"u", "p"}},
		{[]string{"", ""}, []string{"u", "p"}},
	}
	for _, tt := range tests {
		l := Login("u", "p")
		for i, ch := range tt.challenges {
			got, err := l.Next([]byte(ch))
			if err != nil || string(got) != tt.want[i] {
				t.Fatalf("LOGIN Next(%q) = %q, %v, want %q", ch, got, err, tt.want[i])
			}
		}
		if _, err := l.Next([]byte("more?")); err == nil {
			t.Fatalf("LOGIN answered a third challenge")
		}
	}
}
