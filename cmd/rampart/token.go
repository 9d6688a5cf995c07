package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-sec/rampart/internal/securefile"
	"github.com/rampart-sec/rampart/internal/token"
	"github.com/rampart-sec/rampart/internal/token/store"
)

// tokenCmd manages the token service's store: clients, users and signing keys.
func tokenCmd(stdout, stderr io.Writer) *cobra.Command {
	var storeDSN, keyFile string
	var lifetime time.Duration
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage the OAuth2/OpenID Connect token service: clients, users, signing keys",
		Long: "Manage the token service's store (--store: a SQLite file path or a postgres:// URL).\n" +
			"The key-encryption key that seals signing keys at rest is read from --key-file or\n" +
			"$RAMPART_TOKEN_KEK: 32 bytes, base64-encoded. Secrets and passwords are printed once.\n" +
			"A running server picks up changes within its reload interval.",
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&storeDSN, "store", "", "the token store: a SQLite file path or a postgres:// URL (required)")
	pf.StringVar(&keyFile, "key-file", "", "file holding the base64 key-encryption key (default: $RAMPART_TOKEN_KEK)")
	pf.DurationVar(&lifetime, "token-lifetime", 5*time.Minute, "the server's longest access/ID token lifetime: how long revocations and retired keys are kept")

	open := func(ctx context.Context) (store.Store, error) {
		if storeDSN == "" {
			return nil, errors.New("--store is required")
		}
		kek, err := loadKEK(keyFile)
		if err != nil {
			return nil, err
		}
		return store.Open(ctx, storeDSN, store.Options{KEK: kek})
	}
	// cfg carries the lifetimes the store operations need.
	cfg := func(alg string) token.Config {
		return token.Config{SigningAlg: alg, AccessTokenLifetime: lifetime, IDTokenLifetime: lifetime}
	}
	withStore := func(fn func(ctx context.Context, st store.Store, args []string) error) func(*cobra.Command, []string) error {
		return func(c *cobra.Command, args []string) error {
			st, err := open(c.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			return fn(c.Context(), st, args)
		}
	}

	clients := &cobra.Command{Use: "clients", Short: "Create, list and revoke OAuth clients"}
	var name, method, jwksFile string
	var grants, scopes, audiences, redirects []string
	var public bool
	create := &cobra.Command{
		Use:   "create ID",
		Short: "Register a client and print its secret once",
		Args:  cobra.ExactArgs(1),
		RunE: withStore(func(ctx context.Context, st store.Store, args []string) error {
			c := store.Client{ID: args[0], Name: name, Public: public, AuthMethod: method, RedirectURIs: redirects,
				GrantTypes: grants, Scopes: scopes, Audiences: audiences, Created: time.Now()}
			var secret string
			switch {
			case public:
				c.AuthMethod = token.AuthNone
			case method == token.AuthPrivateKeyJWT:
				b, err := os.ReadFile(jwksFile)
				if err != nil {
					return fmt.Errorf("read --jwks-file: %w", err)
				}
				c.JWKS = string(b)
			case method == token.AuthSecretBasic || method == token.AuthSecretPost:
				secret = randomSecret()
				c.SecretHash = store.HashSecret(secret)
			default:
				return fmt.Errorf("--auth-method %q: want client_secret_basic, client_secret_post or private_key_jwt", method)
			}
			if err := st.CreateClient(ctx, c); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "Created client %s.", c.ID)
			if secret != "" {
				fmt.Fprint(stderr, " Its secret is shown once, here; only its hash is stored.")
				fmt.Fprintln(stdout, secret)
			}
			fmt.Fprintln(stderr)
			return nil
		}),
	}
	cf := create.Flags()
	cf.StringVar(&name, "name", "", "display name shown on the consent page")
	cf.StringVar(&method, "auth-method", token.AuthSecretBasic, "client_secret_basic, client_secret_post or private_key_jwt")
	cf.StringVar(&jwksFile, "jwks-file", "", "the client's public JWKS (private_key_jwt)")
	cf.BoolVar(&public, "public", false, "a public client (no secret; PKCE required)")
	cf.StringSliceVar(&grants, "grant-types", []string{token.GrantClientCredentials}, "client_credentials, authorization_code, refresh_token")
	cf.StringSliceVar(&scopes, "scopes", nil, "scopes the client may request")
	cf.StringSliceVar(&audiences, "audiences", nil, "audiences the client's tokens may name")
	cf.StringSliceVar(&redirects, "redirect-uris", nil, "exact redirect URIs (authorization_code)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List clients (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: withStore(func(ctx context.Context, st store.Store, _ []string) error {
			cs, err := st.ListClients(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tAUTH\tGRANTS\tSCOPES\tSTATE")
			for _, c := range cs {
				state := "active"
				if !c.Revoked.IsZero() {
					state = "revoked " + c.Revoked.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, dashIfEmpty(c.Name), c.AuthMethod, dashIfEmpty(strings.Join(c.GrantTypes, ",")),
					dashIfEmpty(strings.Join(c.Scopes, ",")), state)
			}
			return tw.Flush()
		}),
	}
	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a client and every token it holds",
		Args:  cobra.ExactArgs(1),
		RunE: withStore(func(ctx context.Context, st store.Store, args []string) error {
			now := time.Now()
			if err := st.RevokeClient(ctx, args[0], now, now.Add(token.RevocationWindow(cfg("")))); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "revoked client %s\n", args[0])
			return nil
		}),
	}
	clients.AddCommand(create, list, revoke)

	users := &cobra.Command{Use: "users", Short: "Add users, set passwords, disable users"}
	var roles []string
	var passwordStdin bool
	password := func(c *cobra.Command) (pw string, generated bool, err error) {
		if !passwordStdin {
			return randomSecret(), true, nil
		}
		line, err := bufio.NewReader(c.InOrStdin()).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", false, fmt.Errorf("read password from stdin: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
		if len(pw) < 12 {
			return "", false, errors.New("the password must have at least 12 characters")
		}
		return pw, false, nil
	}
	add := &cobra.Command{
		Use:   "add USERNAME",
		Short: "Add a user (password from --password-stdin, or generated and printed once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			pw, generated, err := password(c)
			if err != nil {
				return err
			}
			return withStore(func(ctx context.Context, st store.Store, args []string) error {
				u := store.User{ID: "u-" + randomSecret()[:16], Username: args[0], PasswordHash: store.HashSecret(pw), Roles: roles, Created: time.Now()}
				if err := st.CreateUser(ctx, u); err != nil {
					return err
				}
				fmt.Fprintf(stderr, "Added user %s (subject %s).\n", u.Username, u.ID)
				if generated {
					fmt.Fprintln(stderr, "The generated password is shown once, here.")
					fmt.Fprintln(stdout, pw)
				}
				return nil
			})(c, args)
		},
	}
	add.Flags().StringSliceVar(&roles, "roles", nil, "roles of the user (comma-separated)")
	add.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	passwd := &cobra.Command{
		Use:   "passwd USERNAME",
		Short: "Set a user's password (from --password-stdin, or generated and printed once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			pw, generated, err := password(c)
			if err != nil {
				return err
			}
			return withStore(func(ctx context.Context, st store.Store, args []string) error {
				if err := st.SetPassword(ctx, args[0], store.HashSecret(pw)); err != nil {
					return err
				}
				fmt.Fprintf(stderr, "Set the password of %s.\n", args[0])
				if generated {
					fmt.Fprintln(stdout, pw)
				}
				return nil
			})(c, args)
		},
	}
	passwd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	disable := &cobra.Command{
		Use:   "disable USERNAME",
		Short: "Disable a user and revoke every token they hold",
		Args:  cobra.ExactArgs(1),
		RunE: withStore(func(ctx context.Context, st store.Store, args []string) error {
			now := time.Now()
			u, err := st.DisableUser(ctx, args[0], now, now.Add(token.RevocationWindow(cfg(""))))
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "disabled user %s (subject %s)\n", u.Username, u.ID)
			return nil
		}),
	}
	users.AddCommand(add, passwd, disable)

	keys := &cobra.Command{Use: "keys", Short: "Rotate and list signing keys"}
	var alg string
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Make the published next key current, retire the current one, publish a new next key",
		Args:  cobra.NoArgs,
		RunE: withStore(func(ctx context.Context, st store.Store, _ []string) error {
			if err := token.RotateKeys(ctx, st, cfg(alg), time.Now()); err != nil {
				return err
			}
			fmt.Fprintln(stdout, "rotated signing keys")
			return nil
		}),
	}
	rotate.Flags().StringVar(&alg, "alg", "EdDSA", "algorithm of the new key: EdDSA or ES256")
	listKeys := &cobra.Command{
		Use:   "list",
		Short: "List published signing keys (never their private parts)",
		Args:  cobra.NoArgs,
		RunE: withStore(func(ctx context.Context, st store.Store, _ []string) error {
			ks, err := st.SigningKeys(ctx, time.Now())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tPUBLISHED UNTIL")
			for _, k := range ks {
				until := "-"
				if !k.PublishUntil.IsZero() {
					until = k.PublishUntil.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.KID, k.Alg, k.State, k.Created.UTC().Format(time.RFC3339), until)
			}
			return tw.Flush()
		}),
	}
	keys.AddCommand(rotate, listKeys)
	cmd.AddCommand(clients, users, keys, tokenServeCmd(stdout, stderr))
	return cmd
}

// loadKEK reads the base64 key-encryption key from path (a private file)
// or, with no path, from $RAMPART_TOKEN_KEK.
func loadKEK(path string) ([]byte, error) {
	var text string
	if path != "" {
		b, err := securefile.ReadPrivate("key-encryption key", path, 1024)
		if err != nil {
			return nil, err
		}
		text = string(b)
	} else {
		text = os.Getenv("RAMPART_TOKEN_KEK")
		if text == "" {
			return nil, errors.New("no key-encryption key: pass --key-file or set RAMPART_TOKEN_KEK")
		}
	}
	kek, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil || len(kek) != 32 {
		// Never echo the key material.
		return nil, errors.New("the key-encryption key must be 32 bytes, base64-encoded")
	}
	return kek, nil
}

func randomSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
