# Corpus stage: download URL sources once, then chunk each corpus/language.


rule download_source:
    output:
        layout.download(RESOURCES),
    log:
        layout.log("download_source", "{url_file}"),
    conda:
        "../envs/data.yaml"
    threads: threads_of("download_source", 1)
    resources:
        **res("download_source", mem_mb=512, runtime=30),
    params:
        url=lambda wc: PLAN.url_files[wc.url_file],
    script:
        "../scripts/download_source.py"


rule chunk_corpus:
    input:
        lookup(dpath="{corpus}/{lang}", within=PLAN.source_paths),
    output:
        layout.chunks(),
    log:
        layout.log("chunk_corpus", "{corpus}", "{lang}"),
    conda:
        "../envs/data.yaml"
    threads: threads_of("chunk_corpus", 1)
    resources:
        **res("chunk_corpus", mem_mb=2048, runtime=20),
    params:
        settings=lambda wc: PLAN.chunking[wc.corpus],
    script:
        "../scripts/chunk_corpus.py"
