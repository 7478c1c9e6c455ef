package accounting_test

import (
	"fmt"
	"time"

	"github.com/palio-voip/palio/accounting"
)

// A national call of 61 s at 0.015 a minute billed 60/60 with a 0.05
// connection fee: two started minutes.
func ExampleCost() {
	national := accounting.Rate{Class: "national", PerMinute: 15000, ConnectFee: 50000, Initial: 60, Increment: 60}
	fmt.Println(accounting.Cost(national, true, 61*time.Second))
	perSecond := accounting.Rate{Class: "national", PerMinute: 15000, Initial: 1, Increment: 1}
	fmt.Println(accounting.Cost(perSecond, true, 61*time.Second))
	// Output:
	// 0.08
	// 0.01525
}

// The rate of a call is the longest prefix of its number, the class's
// own rate before one for any class.
func ExampleRateTable_Match() {
	tab := accounting.NewRateTable([]accounting.Rate{
		{ID: 1, Class: "national", Increment: 1},
		{ID: 2, Class: "national", Prefix: "00577", Increment: 1},
		{ID: 3, Prefix: "00800", Free: true, Increment: 1},
	})
	for _, n := range []string{"00577232111", "0612345678", "00800123456"} {
		r, _ := tab.Match("national", n)
		fmt.Println(n, r.ID)
	}
	// Output:
	// 00577232111 2
	// 0612345678 1
	// 00800123456 3
}
