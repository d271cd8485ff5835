/* libFuzzer target: the token reader must never crash, hang or leak on any bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "jwtparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	JwtParsed p;
	char	  err[256];
	char	 *copy;

	/* as the backend passes it: a NUL-terminated string */
	copy = malloc(size + 1);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	if (jwt_parse(copy, size, &p, err, sizeof(err)))
	{
		/* what a parsed token promises */
		volatile size_t n = strlen(p.header) + strlen(p.payload) + strlen(p.alg);

		if (p.kid)
			n += strlen(p.kid);
		if (p.iss)
			n += strlen(p.iss);
		for (int i = 0; i < p.naud; i++)
			n += strlen(p.aud[i]);
		(void) n;
	}
	jwt_parsed_free(&p);
	free(copy);
	return 0;
}
