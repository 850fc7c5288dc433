/* verify.h - am verify: re-check everything the ledger promises.
 *
 * Checks, in order: every artifact's bytes hash to its name and are
 * canonical JSON; every commit on refs/am/ledger is linear and carries an
 * SSHSIG (namespace git) by a machine key trusted in its parent's tree; the
 * history still contains the tip this machine last recorded (no rewrite);
 * every operation's events follow the transition table; later modules add
 * their own checks through am_verify_hooks.  The first problem found is
 * returned as AM_EINTEGRITY.
 */
#ifndef AM_VERIFY_H
#define AM_VERIFY_H

#include <stddef.h>

#include "error.h"
#include "ledger.h"

struct am_verify_report {
	size_t artifacts;
	size_t commits;
	size_t operations;
	size_t events;
	size_t delegations;
};

int am_verify(struct am_ledger *l, struct am_verify_report *rep, struct am_error **err);

#endif
