# Corpus stage: download URL sources once, then chunk each corpus/language.


rule download:
    output:
        f"{RESOURCES}/{{url_file}}",
    log:
        "logs/download/{url_file}.log",
    conda:
        "../envs/data.yaml"
    threads: threads_of("download", 1)
    resources:
        **res("download", mem_mb=512, runtime=30),
    params:
        url=lambda wc: _URL_FILES[wc.url_file],
    script:
        "../scripts/download.py"


rule chunk:
    input:
        lookup(dpath="{corpus}/{lang}", within=SOURCE_PATHS),
    output:
        "results/chunks/{corpus}/{lang}.json",
    log:
        "logs/chunk/{corpus}/{lang}.log",
    conda:
        "../envs/data.yaml"
    threads: threads_of("chunk", 1)
    resources:
        **res("chunk", mem_mb=2048, runtime=20),
    params:
        settings=lambda wc: cfg.chunking(config, wc.corpus),
    script:
        "../scripts/chunk.py"
