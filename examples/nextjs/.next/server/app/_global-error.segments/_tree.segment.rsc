1:[["children",{"s":"__PAGE__","h":176}]]
0:{"b":"8CqP4VSJTqeOwPtOUV9aY","t":{"t":{"s":"","h":80,"c":"$Q1"}}}
