# Corpus stage: download URL sources once, then chunk each corpus/language.


rule download:
    output:
        f"{RESOURCES}/{{url_file}}",
    params:
        url=lambda wc: _URL_FILES[wc.url_file],
    log:
        "logs/download/{url_file}.log",
    threads: threads_of("download", 1)
    resources:
        **res("download", mem_mb=512, runtime=30),
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/download.py"


rule chunk:
    input:
        source_path,
    output:
        "results/chunks/{corpus}/{lang}.json",
    params:
        settings=lambda wc: cfg.chunking(config, wc.corpus),
    log:
        "logs/chunk/{corpus}/{lang}.log",
    threads: threads_of("chunk", 1)
    resources:
        **res("chunk", mem_mb=2048, runtime=20),
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/chunk.py"
