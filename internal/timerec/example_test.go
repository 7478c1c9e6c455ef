package timerec_test

import (
	"fmt"
	"time"

	"github.com/palio-voip/palio/internal/timerec"
)

// Office hours in Siena, weekdays 08:00 to 18:00, except Christmas Day.
func ExampleParse() {
	office, err := timerec.Parse("Europe/Rome|20260105T080000||PT10H|weekly|||MO,TU,WE,TH,FR" +
		" & !(Europe/Rome|20261225T000000|20261226T000000)")
	if err != nil {
		fmt.Println(err)
		return
	}
	rome, _ := time.LoadLocation("Europe/Rome")
	for _, when := range []time.Time{
		time.Date(2026, 3, 2, 9, 30, 0, 0, rome),   // Monday morning
		time.Date(2026, 3, 2, 19, 0, 0, 0, rome),   // Monday evening
		time.Date(2026, 3, 7, 9, 30, 0, 0, rome),   // Saturday
		time.Date(2026, 12, 25, 9, 30, 0, 0, rome), // Christmas, a Friday
	} {
		fmt.Println(when.Format("Mon 2 Jan 15:04"), office.Match(when))
	}
	// Output:
	// Mon 2 Mar 09:30 true
	// Mon 2 Mar 19:00 false
	// Sat 7 Mar 09:30 false
	// Fri 25 Dec 09:30 false
}
