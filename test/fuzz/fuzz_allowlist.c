/*
 * libFuzzer target: the car.allowed_hosts parser, the host-name check and the
 * address classifier must never crash, hang or leak on any bytes, and a
 * parsed list must hold only well-formed entries.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "hostpolicy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	HostAllowList *l;
	char		   err[512];
	char		   why[256];
	char		   norm[HP_NAMELEN];
	char		  *text;
	unsigned char  addr[16] = {0};

	/* as the GUC check hook passes it: a NUL-terminated string */
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memcpy(addr, data, size < sizeof(addr) ? size : sizeof(addr));
	(void) hostpolicy_classify(AF_INET, addr);
	(void) hostpolicy_classify(AF_INET6, addr);
	l = hostpolicy_parse(text, err, sizeof(err));
	if (l != NULL)
	{
		for (int i = 0; i < l->n; i++)
		{
			const HostAllowEntry *e = &l->e[i];

			/* a name entry or an address entry, never both; prefixes and ports in range */
			if ((e->name[0] != '\0') == (e->family != 0) || e->port < 0 || e->port > 65535 ||
				(e->family == AF_INET && (e->prefix < 0 || e->prefix > 32)) ||
				(e->family == AF_INET6 && (e->prefix < 0 || e->prefix > 128)) || strlen(e->name) >= HP_NAMELEN)
				__builtin_trap();
		}
		(void) hostpolicy_check(l, text, AF_INET, addr, 80, why, sizeof(why));
		(void) hostpolicy_check(l, text, AF_INET6, addr, 443, why, sizeof(why));
		free(l);
	}
	else if (err[0] == '\0')
		__builtin_trap(); /* a refusal always says why */
	(void) hostpolicy_valid_host(text, err, sizeof(err));
	hostpolicy_normalize(text, norm, sizeof(norm));
	free(text);
	return 0;
}
