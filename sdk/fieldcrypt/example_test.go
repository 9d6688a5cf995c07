package fieldcrypt_test

import (
	"crypto/rand"
	"fmt"
	"log"
	"strings"

	"github.com/rampart-sec/rampart/sdk/fieldcrypt"
)

type Customer struct {
	ID       string
	Email    string `fieldcrypt:"pii"`
	EmailIdx string `fieldcrypt:"blind=Email"`
	Plan     string
}

func Example() {
	// In a service the keys come from a secret store, never from code.
	key, indexKey := make([]byte, 32), make([]byte, 32)
	rand.Read(key)
	rand.Read(indexKey)
	k, err := fieldcrypt.NewKeyring(fieldcrypt.Randomized, key)
	if err != nil {
		log.Fatal(err)
	}
	c, err := fieldcrypt.New(fieldcrypt.Options{Keyring: k, IndexKey: indexKey})
	if err != nil {
		log.Fatal(err)
	}

	cust := Customer{ID: "c-42", Email: "ann@example.com", Plan: "gold"}
	if err := c.Seal(cust.ID, &cust); err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.HasPrefix(cust.Email, "rampart:v1:"), cust.Plan)
	// INSERT INTO customers (id, email, email_idx, plan) VALUES (…)

	// Looking a customer up by email: SELECT … WHERE email_idx = ?
	idx, _ := c.BlindIndex("Email", []byte("ann@example.com"))
	fmt.Println(idx == cust.EmailIdx)

	if err := c.Open(cust.ID, &cust); err != nil {
		log.Fatal(err)
	}
	fmt.Println(cust.Email)
	// Output:
	// true gold
	// true
	// ann@example.com
}
