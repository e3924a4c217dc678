/* fuzz-json.c - libFuzzer target for libbus-json's codec over
 * tests/json-test.proto (every kind of field): the input is tried as JSON
 * for jt.All and as wire bytes of jt.All; whatever encodes must decode, and
 * whatever decodes must encode back to bytes that decode to the same JSON. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <bus/schema.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern const unsigned char json_test_fds[];
extern const size_t json_test_fds_len;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bus_schema_t *s;
	bus_error_t err;
	void *wire = NULL, *wire2 = NULL;
	size_t len, len2;
	char *json = NULL, *json2 = NULL;

	if (!s && (bus_schema_new(&s) < 0 || bus_schema_add(s, json_test_fds, json_test_fds_len, &err) < 0))
		abort();
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (bus_json_encode(s, "jt.All", text, &wire, &len, &err) == 0 &&
	    bus_json_decode(s, "jt.All", wire, len, 0, &json, &err) < 0)
		abort(); /* the encoder wrote what the decoder refuses */
	free(wire);
	free(json);
	json = NULL;
	if (bus_json_decode(s, "jt.All", data, size, 0, &json, &err) == 0) {
		if (bus_json_encode(s, "jt.All", json, &wire2, &len2, &err) < 0 ||
		    bus_json_decode(s, "jt.All", wire2, len2, 0, &json2, &err) < 0 ||
		    strcmp(json, json2) != 0)
			abort(); /* wire -> JSON -> wire -> JSON must be stable */
	}
	free(wire2);
	free(json);
	free(json2);
	free(text);
	return 0;
}
