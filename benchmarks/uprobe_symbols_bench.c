/* The C floor of uprobe_symbols_bench.py: function names to uprobe file offsets with libelf,
 * the way libbpf does it (libbpf keeps its own function internal, so the same algorithm is
 * written out here).
 *
 *   batch     one elf_begin, one pass over .dynsym, each symbol looked up by bsearch in the
 *             sorted names (libbpf's elf_resolve_syms_offsets, used for uprobe_multi)
 *   per_name  for every name: open, elf_begin, a linear scan of .dynsym, close (libbpf's
 *             elf_find_func_offset_from_file, which each single uprobe attach calls)
 *
 * Offsets are st_value - sh_addr + sh_offset of the symbol's section, as libbpf computes them.
 *
 *   cc -O2 -o uprobe_symbols_bench uprobe_symbols_bench.c -lelf
 *   ./uprobe_symbols_bench LIBRARY NAMES_FILE      (prints JSON: seconds and counts)
 */
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct want {
	const char *name;
	long offset;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct want *)a)->name, ((const struct want *)b)->name);
}

static Elf_Scn *find_dynsym(Elf *elf, GElf_Shdr *sh)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		if (gelf_getshdr(scn, sh) && sh->sh_type == SHT_DYNSYM)
			return scn;
	}
	return NULL;
}

static long sym_offset(Elf *elf, const GElf_Sym *sym)
{
	GElf_Shdr sh;
	Elf_Scn *scn = elf_getscn(elf, sym->st_shndx);

	if (!scn || !gelf_getshdr(scn, &sh))
		return -1;
	return (long)(sym->st_value - sh.sh_addr + sh.sh_offset);
}

/* One pass over .dynsym for all names; returns how many were found. */
static int batch(const char *path, struct want *w, int n)
{
	GElf_Shdr sh;
	Elf_Scn *scn;
	Elf_Data *data;
	Elf *elf;
	int fd, found = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	scn = find_dynsym(elf, &sh);
	data = elf_getdata(scn, NULL);
	qsort(w, n, sizeof(*w), by_name);
	for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
		GElf_Sym sym;
		struct want key, *hit;

		if (!gelf_getsym(data, (int)i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
		    sym.st_shndx == SHN_UNDEF)
			continue;
		key.name = elf_strptr(elf, sh.sh_link, sym.st_name);
		if (!key.name)
			continue;
		hit = bsearch(&key, w, n, sizeof(*w), by_name);
		if (hit && hit->offset < 0) {
			hit->offset = sym_offset(elf, &sym);
			found++;
		}
	}
	elf_end(elf);
	close(fd);
	return found;
}

/* Open, parse and scan the file once per name. */
static int per_name(const char *path, struct want *w, int n)
{
	int found = 0;

	for (int k = 0; k < n; k++) {
		GElf_Shdr sh;
		Elf_Scn *scn;
		Elf_Data *data;
		Elf *elf;
		int fd;

		fd = open(path, O_RDONLY | O_CLOEXEC);
		elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
		scn = find_dynsym(elf, &sh);
		data = elf_getdata(scn, NULL);
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *name;

			if (!gelf_getsym(data, (int)i, &sym) ||
			    GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_shndx == SHN_UNDEF)
				continue;
			name = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (name && strcmp(name, w[k].name) == 0) {
				w[k].offset = sym_offset(elf, &sym);
				found++;
				break;
			}
		}
		elf_end(elf);
		close(fd);
	}
	return found;
}

int main(int argc, char **argv)
{
	static char line[4096];
	struct want *w = NULL;
	int n = 0, cap = 0, found_batch, found_each;
	double t0, t1, t2;
	FILE *f;

	if (argc != 3) {
		fprintf(stderr, "usage: %s LIBRARY NAMES_FILE\n", argv[0]);
		return 2;
	}
	f = fopen(argv[2], "r");
	if (!f)
		return 1;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (n == cap) {
			cap = cap ? 2 * cap : 1024;
			w = realloc(w, cap * sizeof(*w));
		}
		w[n].name = strdup(line);
		w[n].offset = -1;
		n++;
	}
	fclose(f);
	elf_version(EV_CURRENT);

	t0 = now();
	found_batch = batch(argv[1], w, n);
	t1 = now();
	for (int k = 0; k < n; k++)
		w[k].offset = -1;
	found_each = per_name(argv[1], w, n);
	t2 = now();
	printf("{\"batch\": %.9f, \"per_name\": %.9f, \"found_batch\": %d, \"found_each\": %d}\n",
	       t1 - t0, t2 - t1, found_batch, found_each);
	return 0;
}
