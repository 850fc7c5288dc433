/* banned.h - functions am must not call (after git's banned.h).
 *
 * Each of these has an unbounded-write or hidden-state hazard; the safe
 * replacements are snprintf/am_buf, strtok_r, mkstemp/mkdtemp and
 * am_strtonum.  Included last by every .c file through util.h.
 */
#ifndef AM_BANNED_H
#define AM_BANNED_H

#define AM_BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) AM_BANNED(strcpy)
#undef strcat
#define strcat(x, y) AM_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) AM_BANNED(strncpy)
#undef sprintf
#define sprintf(...) AM_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) AM_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) AM_BANNED(strtok)
#undef gets
#define gets(x) AM_BANNED(gets)
#undef mktemp
#define mktemp(x) AM_BANNED(mktemp)
#undef tmpnam
#define tmpnam(x) AM_BANNED(tmpnam)
#undef atoi
#define atoi(x) AM_BANNED(atoi)

#endif
