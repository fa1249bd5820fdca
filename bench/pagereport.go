package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// pageReportingOrder is the knob of the guest's free page reporting
// (virtio-balloon): free blocks of at least this order are handed back to
// the host.
const pageReportingOrder = "/sys/module/page_reporting/parameters/page_reporting_order"

// pausePageReporting stops the guest from reporting free memory to the
// host for the length of a run, and returns how to restore it and a note
// for the report. On a VM that reports free pages, memory freed by
// drop_caches goes back to the host, and the next run that fills the page
// cache takes a host fault on every page it touches: the same 1 GiB
// sequential read took 0.4 s or 1.2 s at random, on kernel overlayfs and
// lamina alike. The order is raised to the highest value the kernel takes,
// one above its largest page order, so that no block qualifies.
func pausePageReporting() (restore func(), note string) {
	b, err := os.ReadFile(pageReportingOrder)
	if err != nil {
		return func() {}, "not in this kernel"
	}
	old := strings.TrimSpace(string(b))
	cur, err := strconv.Atoi(old)
	if err != nil {
		return func() {}, fmt.Sprintf("left alone (order %q unreadable)", old)
	}
	for v := 16; v > cur; v-- {
		if os.WriteFile(pageReportingOrder, []byte(strconv.Itoa(v)), 0) == nil {
			restore := func() { _ = os.WriteFile(pageReportingOrder, []byte(old), 0) }
			return restore, fmt.Sprintf("paused for the run (page_reporting_order %s -> %d, restored after): freed page cache stays in the guest, so runs do not take host faults at random", old, v)
		}
	}
	return func() {}, fmt.Sprintf("left on (page_reporting_order %s could not be raised)", old)
}
